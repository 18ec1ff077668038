/* notifyonly: a program that only tells systemd it is ready (not shipped).
 * tests/sys/layers.t checks what it links: notify is a leaf, so nothing
 * else of lull (no threads, no log) comes with it. */
#include "lull/notify.h"

int main(void)
{
	return notify_ready() < 0;
}
