/* A loopback server thread for the harnesses that fuzz a client's answer handling: it listens
 * on 127.0.0.1 (a random port), and for every connection reads the request until
 * `request_done` says it is whole (or 1 s passes), writes the bytes last given to
 * loopback_answer, half-closes and closes.
 * Connections are served one at a time, in the order they arrive. */
#ifndef ALIMTALK_FUZZ_LOOPBACK_H
#define ALIMTALK_FUZZ_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*request_done_fn)(const char *p, size_t n);

static struct {
    pthread_mutex_t lock;
    char *answer;
    size_t len;
    int port;
    request_done_fn done;
} lb = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL };

/* The bytes the server plays back from now on (copied). */
static void loopback_answer(const char *p, size_t n) {
    pthread_mutex_lock(&lb.lock);
    free(lb.answer);
    lb.answer = malloc(n ? n : 1);
    if (!lb.answer) abort();
    memcpy(lb.answer, p, n);
    lb.len = n;
    pthread_mutex_unlock(&lb.lock);
}

static int wait_readable(int fd, int ms) {
    struct pollfd pfd = { fd, POLLIN, 0 };
    return poll(&pfd, 1, ms) > 0;
}

static void serve(int fd) {
    char req[65536];
    size_t n = 0;
    char *answer;
    size_t len, off = 0;
    while (n < sizeof req && !lb.done(req, n) && wait_readable(fd, 1000)) {
        ssize_t r = read(fd, req + n, sizeof req - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    pthread_mutex_lock(&lb.lock);
    len = lb.len;
    answer = malloc(len ? len : 1);
    if (!answer) abort();
    memcpy(answer, lb.answer, len);
    pthread_mutex_unlock(&lb.lock);
    while (off < len) {
        ssize_t w = send(fd, answer + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(answer);
    shutdown(fd, SHUT_WR);
    /* the request was read whole: take what else came in (nothing, usually) so the close is
     * not a reset, without waiting for a keep-alive client to close its side */
    while (wait_readable(fd, 10) && read(fd, req, sizeof req) > 0) {}
    close(fd);
}

static void *server_main(void *arg) {
    int lfd = *(int *)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0) serve(fd);
    }
    return NULL;
}

/* Starts the server once; returns its port. */
static int loopback_start(request_done_fn done) {
    static int lfd = -1;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    pthread_t t;
    if (lb.port) return lb.port;
    lb.done = done;
    loopback_answer("", 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(lfd, 64) != 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
        abort();
    lb.port = ntohs(a.sin_port);
    if (pthread_create(&t, NULL, server_main, &lfd) != 0) abort();
    pthread_detach(t);
    return lb.port;
}

#endif
