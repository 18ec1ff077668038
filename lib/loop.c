/* loop.c: named loop threads, tickless waits and termination.
 *
 * Global state: the registry of loops (a list under reg_lock, touched only
 * at spawn, at a loop's return and during termination), the stop flag, the
 * requested exit status, the "a loop returned" eventfd and the SIGHUP hook
 * (set and read on the main thread only).
 *
 * How a loop is stopped without any timeout: every thread blocks the
 * interrupt signal (a real-time signal) except inside the wrappers' ppoll
 * or epoll_pwait, whose sigmask unblocks it. loop_main() sets `stopping`
 * and then pthread_kill()s each loop. If the signal arrives while the loop
 * is blocked, the call returns EINTR; if it arrives before, it stays
 * pending until the next wrapper unblocks it, which then returns at once;
 * and a wrapper entered after `stopping` was set sees the flag first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "internal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"
#include "lull/prog.h"

_Static_assert(LOOP_EXIT_DEADLINE == PROG_EXIT_DEADLINE, "one exit status for a missed deadline");

#define LOOP_STACK_SIZE (2u << 20)

struct loop {
	struct loop *next;
	pthread_t thread;
	char name[LOOP_NAME_MAX];
	loop_fn fn;
	void *arg;
	atomic_int tid;
	atomic_bool done;
	bool joined;
	int status;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop *loops;
static atomic_bool stopping;
static atomic_int exit_status = -1;
static char exit_requester[LOOP_NAME_MAX];
static int done_efd = -1;
static void (*reload_fn)(void *arg);
static void *reload_arg;

static __thread bool have_wait_mask;
static __thread sigset_t wait_mask;

int loop_sig_interrupt(void)
{
	return lull_rtsig(LULL_RTSIG_INTERRUPT);
}

static void on_interrupt(int sig)
{
	(void)sig;   /* its only job is to make the blocking call return EINTR */
}

static void control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR2);
}

int loop_init(void)
{
	struct sigaction sa;
	sigset_t set;
	int r;

	control_signals(&set);
	sigaddset(&set, loop_sig_interrupt());
	r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (r)
		return -r;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	if (sigaction(loop_sig_interrupt(), &sa, NULL) < 0)
		return -errno;
	/* A daemon writing to a socket or pipe whose peer left gets EPIPE,
	 * not death. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	if (done_efd < 0) {
		done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (done_efd < 0)
			return -errno;
	}
	log_set_thread_name("main");
	return 0;
}

bool loop_stopping(void)
{
	return atomic_load(&stopping);
}

void loop_exit(int status)
{
	union sigval v = { .sival_int = status };
	int none = -1;

	if (atomic_compare_exchange_strong(&exit_status, &none, status)) {
		lull_strlcpy(exit_requester, log_thread_name(), sizeof(exit_requester));
		sigqueue(getpid(), SIGTERM, v);
	}
}

/* The sigmask for the blocking call: the thread's own, minus the
 * interrupt signal. Computed once per thread. */
static const sigset_t *get_wait_mask(void)
{
	if (!have_wait_mask) {
		pthread_sigmask(SIG_BLOCK, NULL, &wait_mask);
		sigdelset(&wait_mask, loop_sig_interrupt());
		have_wait_mask = true;
	}
	return &wait_mask;
}

int loop_poll(struct pollfd *fds, nfds_t nfds, int64_t deadline)
{
	const sigset_t *mask = get_wait_mask();
	struct timespec ts;

	for (;;) {
		if (atomic_load(&stopping))
			return -ECANCELED;
		int n = ppoll(fds, nfds, time_until(deadline, &ts), mask);
		if (n > 0)
			return n;
		if (n < 0 && errno != EINTR)
			return -errno;
		/* n == 0: ppoll's timeout may end a hair early: re-check. */
		if (n == 0 && time_mono_ns() >= deadline)
			return 0;
	}
}

int loop_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int64_t deadline)
{
	const sigset_t *mask = get_wait_mask();

	for (;;) {
		int ms = -1;

		if (atomic_load(&stopping))
			return -ECANCELED;
		if (deadline != LULL_FOREVER) {
			int64_t left = deadline - time_mono_ns();

			if (left <= 0)
				return 0;
			/* round up: waking early would only loop again */
			left = (left + LULL_NSEC_PER_MSEC - 1) / LULL_NSEC_PER_MSEC;
			ms = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		int n = epoll_pwait(epfd, events, maxevents, ms, mask);
		if (n > 0)
			return n;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int loop_sleep_until(int64_t deadline)
{
	return loop_poll(NULL, 0, deadline);   /* no fd: never > 0 */
}

int loop_wait_readable(int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = loop_poll(&pfd, 1, deadline);

	return r > 0 ? 1 : r;
}

static void *loop_start(void *p)
{
	struct loop *l = p;
	uint64_t one = 1;
	int status;

	atomic_store(&l->tid, lull_gettid());
	prctl(PR_SET_NAME, l->name, 0, 0, 0);
	log_set_thread_name(l->name);
	if (lull_thread_start_hook && lull_thread_start_hook() < 0)
		log_warn("loop '%s': no alternate signal stack: a stack overflow here will not be reported", l->name);
	status = l->fn(l->arg);
	if (lull_thread_exit_hook)
		lull_thread_exit_hook();
	l->status = status;
	if (status != 0 && !atomic_load(&stopping)) {
		log_error("loop '%s' failed with status %d: terminating", l->name, status);
		loop_exit(status);
	}
	atomic_store(&l->done, true);
	if (done_efd >= 0)
		lull_write_all(done_efd, &one, sizeof(one));
	return NULL;
}

int loop_spawn(const char *name, loop_fn fn, void *arg)
{
	struct loop *l = calloc(1, sizeof(*l));
	pthread_attr_t attr;
	int r;

	if (!l)
		return -ENOMEM;
	lull_strlcpy(l->name, name, sizeof(l->name));
	l->fn = fn;
	l->arg = arg;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LOOP_STACK_SIZE);
	pthread_mutex_lock(&reg_lock);
	r = pthread_create(&l->thread, &attr, loop_start, l);
	if (r == 0) {
		l->next = loops;
		loops = l;
	}
	pthread_mutex_unlock(&reg_lock);
	pthread_attr_destroy(&attr);
	if (r) {
		free(l);
		return -r;
	}
	return 0;
}

void loop_on_reload(void (*fn)(void *arg), void *arg)
{
	reload_fn = fn;
	reload_arg = arg;
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGUSR2: return "SIGUSR2";
	}
	return "signal";
}

/* Read one control signal. Returns the signal, 0 if none is pending. */
static int read_signal(int sfd, struct signalfd_siginfo *si)
{
	for (;;) {
		ssize_t n = read(sfd, si, sizeof(*si));

		if (n == (ssize_t)sizeof(*si))
			return (int)si->ssi_signo;
		if (n < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

/* Describe a termination request; returns the exit status it asks for. */
static int termination_cause(const struct signalfd_siginfo *si, char *buf, size_t cap)
{
	int status = atomic_load(&exit_status);

	if (si->ssi_code == SI_QUEUE && (pid_t)si->ssi_pid == getpid() && status >= 0) {
		snprintf(buf, cap, "loop '%s' asked to exit with status %d", exit_requester, status);
		return status;
	}
	snprintf(buf, cap, "%s from pid %u", signame((int)si->ssi_signo), si->ssi_pid);
	return 0;
}

static size_t name_unfinished(char *buf, size_t cap)
{
	size_t n = 0, count = 0;

	buf[0] = '\0';
	for (struct loop *l = loops; l; l = l->next) {
		if (atomic_load(&l->done))
			continue;
		int w = snprintf(buf + n, cap - n, "%s'%s' (tid %d)", count ? ", " : "", l->name,
				 atomic_load(&l->tid));
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
		count++;
	}
	return count;
}

/* Graceful: interrupt every loop, join them within the grace period. */
static int terminate_gracefully(int sfd, int64_t grace_ns, int status)
{
	int64_t deadline = time_deadline_in(grace_ns), t0 = time_mono_ns();
	struct pollfd pfd[2] = { { .fd = done_efd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
	struct signalfd_siginfo si;
	char names[1024];
	struct timespec ts;
	size_t total = 0, joined = 0;
	bool forced = false;

	notify_stopping();
	atomic_store(&stopping, true);
	pthread_mutex_lock(&reg_lock);
	for (struct loop *l = loops; l; l = l->next) {
		total++;
		if (!atomic_load(&l->done))
			pthread_kill(l->thread, loop_sig_interrupt());
	}
	for (;;) {
		bool all = true;

		for (struct loop *l = loops; l; l = l->next) {
			if (!atomic_load(&l->done)) {
				all = false;
			} else if (!l->joined) {
				pthread_join(l->thread, NULL);
				l->joined = true;
				joined++;
			}
		}
		if (all)
			break;
		if (forced || (deadline != LULL_FOREVER && time_mono_ns() >= deadline))
			goto missed;
		int n = ppoll(pfd, 2, time_until(deadline, &ts), NULL);
		if (n < 0 && errno != EINTR)
			goto missed;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			uint64_t v;

			if (read(done_efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another wakeup consumed it */
			}
		}
		if (n > 0 && (pfd[1].revents & POLLIN) && read_signal(sfd, &si)) {
			/* loop_exit() from a loop that fails while stopping is
			 * not a second SIGTERM from outside */
			bool own = si.ssi_code == SI_QUEUE && (pid_t)si.ssi_pid == getpid();

			if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !own) {
				log_warn("termination: second %s: not waiting any longer",
					 signame((int)si.ssi_signo));
				forced = true;
			}
		}
	}
	pthread_mutex_unlock(&reg_lock);
	log_info("termination: %zu loop(s) joined in %lld us", joined,
		 (long long)((time_mono_ns() - t0) / 1000));
	return status;
missed:
	name_unfinished(names, sizeof(names));
	log_error("termination: loop(s) still running after %lld ms: %s; exiting with status %d",
		  (long long)((time_mono_ns() - t0) / LULL_NSEC_PER_MSEC), names, LOOP_EXIT_DEADLINE);
	_exit(LOOP_EXIT_DEADLINE);
}

int loop_main(enum loop_term_mode mode, int64_t grace_ns)
{
	struct signalfd_siginfo si;
	struct pollfd pfd;
	sigset_t set;
	char cause[128];
	int sfd, sig, status;

	control_signals(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	pfd.fd = sfd;
	pfd.events = POLLIN;
	for (;;) {
		/* No timeout: the main thread wakes only for a signal. */
		if (ppoll(&pfd, 1, NULL, NULL) < 0 && errno != EINTR) {
			int e = errno;

			close(sfd);
			return -e;
		}
		while ((sig = read_signal(sfd, &si))) {
			if (sig == SIGHUP) {
				int r = log_reopen();

				if (r < 0)
					log_error("SIGHUP: cannot reopen log: %s", strerror(-r));
				else
					log_info("SIGHUP: log reopened");
				if (reload_fn)
					reload_fn(reload_arg);
				continue;
			}
			if (sig == SIGUSR2) {
				log_toggle_debug();
				log_info("SIGUSR2: debug logging %s",
					 log_level() == LOG_LEVEL_DEBUG ? "on" : "off");
				continue;
			}
			status = termination_cause(&si, cause, sizeof(cause));
			if (mode == LOOP_TERM_IMMEDIATE) {
				log_info("terminating: %s (immediate, status %d)", cause, status);
				_exit(status);
			}
			if (grace_ns < 0)
				log_info("terminating: %s (graceful, no deadline)", cause);
			else
				log_info("terminating: %s (graceful, deadline %lld ms)", cause,
					 (long long)(grace_ns / LULL_NSEC_PER_MSEC));
			status = terminate_gracefully(sfd, grace_ns, status);
			close(sfd);
			return status;
		}
	}
}

/* xorshift64*: jitter only needs to decorrelate daemons, not be secure. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static int64_t jittered(int64_t period, unsigned pct, uint64_t *rng)
{
	if (pct == 0 || period <= 0)
		return period;
	if (pct > 50)
		pct = 50;
	int64_t span = period / 100 * (int64_t)pct;   /* +- span */
	if (span <= 0)
		return period;
	return period - span + (int64_t)(next_rand(rng) % (uint64_t)(2 * span + 1));
}

int loop_periodic_run(const struct loop_periodic *p)
{
	uint64_t rng = (uint64_t)time_mono_ns() ^ ((uint64_t)lull_gettid() << 32) ^ (uintptr_t)p;
	int64_t retry = p->retry_ns > 0 ? p->retry_ns : p->interval_ns;
	int64_t next = 0;
	bool need_gate = p->gate_fd >= 0;
	int r;

	if (!need_gate)
		next = time_mono_ns() + jittered(p->interval_ns, p->jitter_pct, &rng);
	for (;;) {
		if (need_gate) {
			uint64_t v;

			r = loop_wait_readable(p->gate_fd, LULL_FOREVER);
			if (r < 0)
				return r == -ECANCELED ? 0 : r;
			if (read(p->gate_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
			next = time_mono_ns() + jittered(p->interval_ns, p->jitter_pct, &rng);
		}
		r = loop_sleep_until(next);
		if (r < 0)
			return r == -ECANCELED ? 0 : r;
		r = p->step(p->arg);
		if (r > 0)
			return r;
		int64_t period = jittered(r < 0 ? retry : p->interval_ns, p->jitter_pct, &rng);
		int64_t now = time_mono_ns();
		/* after a failure, retry whether or not the gate saw activity */
		need_gate = p->gate_fd >= 0 && r == 0;
		next += period;
		if (next <= now)
			next = now + period;   /* skip missed periods, don't burst */
	}
}

static int watchdog_step(void *arg)
{
	(void)arg;
	return notify_send("WATCHDOG=1") < 0 ? -1 : 0;
}

static int watchdog_loop(void *arg)
{
	struct loop_periodic p = {
		.interval_ns = *(int64_t *)arg / 2,
		.gate_fd = -1,
		.step = watchdog_step,
	};

	return loop_periodic_run(&p);
}

int loop_watchdog_start(void)
{
	static int64_t interval;
	int r;

	interval = notify_watchdog_interval();
	if (!interval)
		return 0;
	r = loop_spawn("watchdog", watchdog_loop, &interval);
	if (r < 0)
		return r;
	log_info("systemd watchdog: pinging every %lld ms", (long long)(interval / 2 / LULL_NSEC_PER_MSEC));
	return 1;
}
