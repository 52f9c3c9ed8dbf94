/* Baseline for bench/client_bench.lua: sequential keep-alive SENS sends with plain libcurl,
 * one easy handle reused (one connection), replaying one request our client signed (headers
 * and body read from files; the signature stays valid for the server's 5-minute window).
 * usage: sens_signed_loop URL HEADERS_FILE BODY_FILE MAX_COUNT MAX_SECONDS
 *   HEADERS_FILE: one "Name: value" per line.  Prints "<accepted> <requests> <seconds>". */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *ud) {
    (void)p; (void)ud;
    return size * n;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    static char body[1 << 20];
    char line[8192];
    size_t blen;
    long max_count, i, ok = 0;
    double max_seconds, t0, t = 0;
    FILE *f;
    CURL *e;
    struct curl_slist *h = NULL;
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL HEADERS_FILE BODY_FILE MAX_COUNT MAX_SECONDS\n", argv[0]);
        return 2;
    }
    if ((f = fopen(argv[2], "rb")) == NULL) { perror(argv[2]); return 2; }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0]) h = curl_slist_append(h, line);
    }
    fclose(f);
    h = curl_slist_append(h, "Expect:");
    if ((f = fopen(argv[3], "rb")) == NULL) { perror(argv[3]); return 2; }
    blen = fread(body, 1, sizeof body, f);
    fclose(f);
    max_count = atol(argv[4]);
    max_seconds = atof(argv[5]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    t0 = now();
    for (i = 0; i < max_count; i++) {
        long status = 0;
        if (curl_easy_perform(e) != CURLE_OK) break;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status == 202) ok++;
        t = now() - t0;
        if (t >= max_seconds) { i++; break; }
    }
    printf("%ld %ld %.6f\n", ok, i, now() - t0);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    curl_global_cleanup();
    return 0;
}
