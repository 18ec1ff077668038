/* am_load: posts alerts to Prometheus Alertmanager's v2 API, for the
 * side-by-side rows of bench/xmond.sh.
 *
 *   am_load [-b BATCH] [-c CONNS] [-d SECS | -N TOTAL] [-o FIRST] PORT
 *
 * CONNS threads (default 2), each one keep-alive HTTP/1.1 connection to
 * 127.0.0.1:PORT, post `POST /api/v2/alerts` with a JSON array of BATCH
 * alerts (default 1) and wait for the answer (closed loop: as fast as
 * Alertmanager answers). Every alert is a new one: labels alertname=bench,
 * instance=iN, id=K with K counting up from FIRST (default 0). Stops after
 * SECS seconds (default 5) or once TOTAL alerts are posted. Prints
 * alerts=N secs=S rate=R errors=E. No global state but the options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int o_batch = 1, o_conns = 2, o_port;
static double o_secs = 5;
static long long o_total = 0, o_first = 0;
static atomic_llong next_id, posted, errors;
static int64_t t_end;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o_port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response; returns its status or -1. */
static int read_resp(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char *eoh = NULL;

	for (;;) {
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = 0;
		if (!eoh && (eoh = strstr(buf, "\r\n\r\n")))
			eoh += 4;
		if (!eoh)
			continue;
		int status = atoi(buf + 9);
		char *cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl && cl < eoh) {
			size_t want = (size_t)(eoh - buf) + (size_t)atol(cl + 17);
			if (len >= want)
				return status;
		} else if (strcasestr(buf, "chunked")) {
			if (strstr(eoh, "0\r\n\r\n"))
				return status;
		} else {
			return status;
		}
		if (len + 1 >= cap)
			return -1;
	}
}

static void *worker(void *arg)
{
	size_t cap = (size_t)o_batch * 200 + 512;
	char *body = malloc(cap), *req = malloc(cap + 256), resp[65536];
	int fd = dial();

	(void)arg;
	if (fd < 0) {
		perror("am_load: connect");
		atomic_fetch_add(&errors, 1);
		return NULL;
	}
	for (;;) {
		if (t_end && now_ns() >= t_end)
			break;
		long long id = atomic_fetch_add(&next_id, o_batch);
		if (o_total && id - o_first >= o_total)
			break;
		int n = o_batch;
		if (o_total && id - o_first + n > o_total)
			n = (int)(o_total - (id - o_first));
		size_t bl = 0;
		body[bl++] = '[';
		for (int i = 0; i < n; i++)
			bl += (size_t)snprintf(body + bl, cap - bl,
					       "%s{\"labels\":{\"alertname\":\"bench\",\"instance\":\"i%lld\",\"id\":\"%lld\"},"
					       "\"annotations\":{\"summary\":\"load %lld\"}}",
					       i ? "," : "", (id + i) / 10, id + i, id + i);
		body[bl++] = ']';
		int hl = snprintf(req, 256,
				  "POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
				  "Content-Length: %zu\r\n\r\n", bl);
		memcpy(req + hl, body, bl);
		if (send_all(fd, req, (size_t)hl + bl) < 0) {
			atomic_fetch_add(&errors, 1);
			break;
		}
		int st = read_resp(fd, resp, sizeof(resp));
		if (st != 200) {
			if (atomic_fetch_add(&errors, 1) < 3)
				fprintf(stderr, "am_load: status %d: %.200s\n", st, resp);
			if (st < 0)
				break;
			continue;
		}
		atomic_fetch_add(&posted, n);
	}
	close(fd);
	free(body);
	free(req);
	return NULL;
}

int main(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "b:c:d:N:o:")) != -1) {
		switch (opt) {
		case 'b': o_batch = atoi(optarg); break;
		case 'c': o_conns = atoi(optarg); break;
		case 'd': o_secs = atof(optarg); break;
		case 'N': o_total = atoll(optarg); break;
		case 'o': o_first = atoll(optarg); break;
		default:
			fprintf(stderr, "usage: am_load [-b BATCH] [-c CONNS] [-d SECS | -N TOTAL] [-o FIRST] PORT\n");
			return 100;
		}
	}
	if (optind >= argc || o_batch < 1 || o_conns < 1)
		return 100;
	o_port = atoi(argv[optind]);
	atomic_store(&next_id, o_first);
	int64_t t0 = now_ns();
	if (!o_total)
		t_end = t0 + (int64_t)(o_secs * 1e9);
	pthread_t *th = calloc((size_t)o_conns, sizeof(*th));
	for (int i = 0; i < o_conns; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < o_conns; i++)
		pthread_join(th[i], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	long long p = atomic_load(&posted);
	printf("alerts=%lld secs=%.3f rate=%.0f errors=%lld\n", p, secs, (double)p / secs, (long long)atomic_load(&errors));
	return atomic_load(&errors) && !p ? 1 : 0;
}
