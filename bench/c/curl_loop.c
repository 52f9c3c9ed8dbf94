/* Baseline for bench/core_bench.lua: sequential keep-alive POSTs with plain libcurl, one easy
 * handle reused (so one connection), the same headers and body as the Lua side, and like it
 * the response status, header lines and body kept in memory for the caller.
 * usage: curl_loop URL BODY_FILE MAX_COUNT MAX_SECONDS  ->  prints "<requests> <seconds>" */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct { char *p; size_t len, cap; } buf;

static size_t keep(char *p, size_t size, size_t n, void *ud) {
    buf *b = ud;
    size_t len = size * n;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + len) cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL) return 0;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    return len;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    char body[65536];
    size_t blen;
    long max_count, i;
    double max_seconds, t0, t;
    FILE *f;
    CURL *e;
    struct curl_slist *h = NULL;
    buf head = { NULL, 0, 0 }, resp = { NULL, 0, 0 };
    if (argc != 5) { fprintf(stderr, "usage: %s URL BODY_FILE MAX_COUNT MAX_SECONDS\n", argv[0]); return 2; }
    if ((f = fopen(argv[2], "rb")) == NULL) { perror(argv[2]); return 2; }
    blen = fread(body, 1, sizeof body, f);
    fclose(f);
    max_count = atol(argv[3]);
    max_seconds = atof(argv[4]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    h = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "curl_loop");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    t0 = now();
    for (i = 0; i < max_count; i++) {
        long status = 0;
        head.len = resp.len = 0;
        if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "request %ld failed\n", i); return 1; }
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) { fprintf(stderr, "request %ld: status %ld\n", i, status); return 1; }
        if ((i & 63) == 0 && now() - t0 > max_seconds) { i++; break; }
    }
    t = now() - t0;
    printf("%ld %.6f\n", i, t);
    free(head.p);
    free(resp.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    curl_global_cleanup();
    return 0;
}
