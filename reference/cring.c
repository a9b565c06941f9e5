/*
 * PerfLab's C reference: the fastest a virtqueue-shaped exchange between the two CPUs of
 * this machine can go, to read C# figures against, and the host probes the scripts take
 * (scripts/lib.sh builds it: compare-limits runs its ring, every comparison its c2c). Three
 * modes, one measurement per invocation, printed as key=value pairs for `perflab-report record --set`; the statistics over rounds are the C#
 * side's.
 *
 *   cring c2c [SECONDS]
 *       Two threads pinned to CPU 0 and CPU 1 pass one 64-byte line back and forth (one
 *       writes odd numbers, the other answers with the next even one). Prints the median
 *       round trip of 7 slices: c2c_ns=...
 *
 *   cring speed CPU [SECONDS]
 *       One thread pinned to CPU, nothing shared: the host's speed for that vCPU alone, to
 *       tell a slow host from a slow exchange. Prints arith_ns (one step of four independent
 *       multiply-add chains: the core's clock and what an SMT sibling takes of it), l2_ns (one
 *       load of a random walk over 512 KiB, in L2), mem_ns (the same over 64 MiB of 4 KiB
 *       pages: DRAM and the nested page walk) and mem2m_ns (64 MiB asked for as huge pages,
 *       MADV_HUGEPAGE: DRAM without most page walks); each the median of 5 slices.
 *
 *   cring ring poll|notify BATCH PAYLOAD [SECONDS]
 *       A split-ring loopback between two processes sharing a memfd. The parent (CPU 0)
 *       plays the driver: it writes PAYLOAD bytes (a sequence number first) into free 2 KiB
 *       TX buffers, fills their descriptors and the avail ring, and publishes avail.idx once
 *       per BATCH with a release store; it takes ids back from the used ring. The child
 *       (CPU 1) plays the device: it polls avail.idx (acquire), copies each frame into the
 *       next of 256 RX buffers, checks the sequence, writes the used element, and publishes
 *       used.idx once per batch. In notify mode the device sleeps on a kick eventfd when the
 *       ring is empty, after writing avail_event and re-checking behind a full fence (event
 *       index suppression); the driver kicks only when the index it passed says so.
 *       Prints mpps (frames completed per second), busy_ns_frame (the device's time outside
 *       its waits per frame: its own capacity is 1000 / that in Mpps), device_cpu_pct,
 *       kicks_frame and seq_errors.
 *
 * gcc -O2 -pthread -o cring cring.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QSZ 256u
#define BUFSZ 2048u

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (sched_setaffinity(0, sizeof s, &s) != 0) {
        perror("sched_setaffinity");
        exit(1);
    }
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- c2c --------------------------------------------------------------------------- */

static struct { _Alignas(64) volatile uint64_t v; _Alignas(64) char pad; } line;
#define LINE_STOP UINT64_MAX

static void *answer(void *unused)
{
    (void)unused;
    pin(1);
    for (uint64_t want = 1;; want += 2) {
        uint64_t x;
        while ((x = __atomic_load_n(&line.v, __ATOMIC_ACQUIRE)) != want)
            if (x == LINE_STOP) return NULL;
        __atomic_store_n(&line.v, want + 1, __ATOMIC_RELEASE);
    }
}

static double slice(uint64_t *next, uint64_t ns)
{
    uint64_t t0 = now_ns(), t, n = 0;
    do {
        for (int i = 0; i < 2048; i++) {
            uint64_t odd = *next;
            __atomic_store_n(&line.v, odd, __ATOMIC_RELEASE);
            while (__atomic_load_n(&line.v, __ATOMIC_ACQUIRE) != odd + 1) {}
            *next = odd + 2;
        }
        n += 2048;
        t = now_ns();
    } while (t - t0 < ns);
    return (double)(t - t0) / (double)n;
}

static int c2c(double seconds)
{
    pthread_t th;
    double r[7];
    uint64_t next = 1, ns = (uint64_t)(seconds * 1e9 / 7);
    pin(0);
    pthread_create(&th, NULL, answer, NULL);
    slice(&next, ns / 3); /* both threads running and their lines warm */
    for (int i = 0; i < 7; i++) r[i] = slice(&next, ns);
    __atomic_store_n(&line.v, LINE_STOP, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    qsort(r, 7, sizeof r[0], by_value);
    printf("c2c_ns=%.1f\n", r[3]);
    return 0;
}

/* ---- speed ------------------------------------------------------------------------- */

static double arith_slice(uint64_t ns, uint64_t *sink)
{
    uint64_t a = 1, b = 2, c = 3, d = 4, n = 0, t0 = now_ns(), t;
    do {
        for (int i = 0; i < 4096; i++) {
            a = a * 6364136223846793005ull + 1442695040888963407ull;
            b = b * 6364136223846793005ull + 1442695040888963407ull;
            c = c * 6364136223846793005ull + 1442695040888963407ull;
            d = d * 6364136223846793005ull + 1442695040888963407ull;
        }
        n += 4096;
        t = now_ns();
    } while (t - t0 < ns);
    *sink += a ^ b ^ c ^ d;
    return (double)(t - t0) / (double)n;
}

/* A random cyclic walk over bytes/64 lines of buf (one pointer per line), built with
 * Sattolo's shuffle so that it visits every line once per lap. */
static void *walk_build(size_t bytes, int huge)
{
    size_t lines = bytes / 64;
    uint8_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return NULL;
    if (huge) madvise(buf, bytes, MADV_HUGEPAGE);
    uint32_t *perm = malloc(lines * sizeof *perm);
    if (!perm) return NULL;
    for (size_t i = 0; i < lines; i++) perm[i] = (uint32_t)i;
    uint64_t x = 88172645463325252ull;
    for (size_t i = lines - 1; i > 0; i--) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t j = x % i, tmp = perm[i];
        perm[i] = perm[j]; perm[j] = (uint32_t)tmp;
    }
    for (size_t i = 0; i < lines; i++) *(void **)(buf + (size_t)i * 64) = buf + (size_t)perm[i] * 64;
    free(perm);
    return buf;
}

static double walk_slice(void **p, uint64_t ns)
{
    uint64_t n = 0, t0 = now_ns(), t;
    void *q = *p;
    do {
        for (int i = 0; i < 1024; i++) q = *(void **)q;
        n += 1024;
        t = now_ns();
    } while (t - t0 < ns);
    __asm__ volatile("" : : "r"(q)); /* the walk's result is used: the loads stay */
    *p = q;
    return (double)(t - t0) / (double)n;
}

static double median5(double *r)
{
    qsort(r, 5, sizeof r[0], by_value);
    return r[2];
}

static int speed(int cpu, double seconds)
{
    static const size_t sizes[3] = { 512u << 10, 64u << 20, 64u << 20 };
    static const char *const names[3] = { "l2_ns", "mem_ns", "mem2m_ns" };
    uint64_t ns = (uint64_t)(seconds * 1e9 / 20), sink = 0;
    double r[5];
    pin(cpu);
    arith_slice(ns, &sink);
    for (int i = 0; i < 5; i++) r[i] = arith_slice(ns, &sink);
    printf("arith_ns=%.3f", median5(r));
    for (int k = 0; k < 3; k++) {
        void *buf = walk_build(sizes[k], k == 2), *p = buf;
        if (!buf) { perror("speed"); return 1; }
        walk_slice(&p, ns);
        for (int i = 0; i < 5; i++) r[i] = walk_slice(&p, ns);
        printf(" %s=%.2f", names[k], median5(r));
        munmap(buf, sizes[k]);
    }
    printf("\n");
    return sink == 42; /* keeps the chains alive */
}

/* ---- ring -------------------------------------------------------------------------- */

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct avail { uint16_t flags, idx, ring[QSZ], used_event; };
struct used_elem { uint32_t id, len; };
struct used { uint16_t flags, idx; struct used_elem ring[QSZ]; uint16_t avail_event; };

struct shared {
    _Alignas(64) int state;               /* 0 warm-up, 1 measuring, 2 stop: written by the driver */
    _Alignas(64) struct desc desc[QSZ];
    _Alignas(4096) struct avail avail;
    _Alignas(4096) struct used used;
    _Alignas(64) uint64_t frames, errors;  /* the device's results */
    double busy_ns, wall_ns, cpu_ns;
    int done;
    _Alignas(4096) uint8_t tx[QSZ][BUFSZ];
    uint8_t rx[QSZ][BUFSZ];
};

static int notify, batch, payload;

/* The index moved from old to now past event: the other side asked to be told. */
static int passed(uint16_t event, uint16_t now, uint16_t old)
{
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

static double cpu_self_ns(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e9 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e3;
}

static void device(int memfd, int kick)
{
    pin(1);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (sh == MAP_FAILED) { perror("device mmap"); _exit(1); }
    uint16_t seen = 0, used_idx = 0;
    unsigned slot = 0;
    uint64_t frames = 0, errors = 0, expect = 0, f0 = 0;
    uint64_t busy0 = 0, busy = 0, t0 = 0;
    double c0 = 0;
    int state = 0;
    for (;;) {
        int s = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
        if (s != state) {
            if (s == 1) { f0 = frames; busy0 = busy; t0 = now_ns(); c0 = cpu_self_ns(); }
            else {
                sh->wall_ns = (double)(now_ns() - t0);
                sh->cpu_ns = cpu_self_ns() - c0;
                sh->busy_ns = (double)(busy - busy0);
                sh->frames = frames - f0;
                sh->errors = errors;
                __atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
                _exit(0);
            }
            state = s;
        }
        uint16_t n = (uint16_t)(__atomic_load_n(&sh->avail.idx, __ATOMIC_ACQUIRE) - seen);
        if (n == 0) {
            if (notify) {
                __atomic_store_n(&sh->used.avail_event, seen, __ATOMIC_RELAXED);
                __atomic_thread_fence(__ATOMIC_SEQ_CST); /* publish avail_event before the re-check */
                if (__atomic_load_n(&sh->avail.idx, __ATOMIC_ACQUIRE) == seen && __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == state) {
                    uint64_t v;
                    if (read(kick, &v, sizeof v) < 0 && errno != EINTR) { perror("read kick"); _exit(1); }
                }
            }
            continue;
        }
        uint64_t b0 = now_ns();
        if (n > batch) n = (uint16_t)batch;
        for (uint16_t i = 0; i < n; i++) {
            uint16_t id = sh->avail.ring[(uint16_t)(seen + i) % QSZ];
            struct desc d = sh->desc[id];
            uint8_t *dst = sh->rx[slot];
            slot = (slot + 1) % QSZ;
            memcpy(dst, (uint8_t *)sh + d.addr, d.len);
            uint64_t seq;
            memcpy(&seq, dst, sizeof seq);
            errors += seq != expect;
            expect = seq + 1;
            sh->used.ring[(uint16_t)(used_idx + i) % QSZ] = (struct used_elem){ id, d.len };
        }
        seen = (uint16_t)(seen + n);
        used_idx = (uint16_t)(used_idx + n);
        __atomic_store_n(&sh->used.idx, used_idx, __ATOMIC_RELEASE); /* the used elements before the index */
        frames += n;
        busy += now_ns() - b0;
    }
}

static int ring(double seconds)
{
    int memfd = memfd_create("perflab-cring", 0);
    if (memfd < 0 || ftruncate(memfd, sizeof(struct shared)) != 0) { perror("memfd"); return 1; }
    int kick = eventfd(0, 0);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (kick < 0 || sh == MAP_FAILED) { perror("setup"); return 1; }
    pid_t child = fork();
    if (child == 0) device(memfd, kick);
    pin(0);
    uint8_t pattern[BUFSZ];
    for (unsigned i = 0; i < BUFSZ; i++) pattern[i] = (uint8_t)(i * 13 + 5);
    uint16_t free_ids[QSZ];
    unsigned nfree = QSZ;
    for (unsigned i = 0; i < QSZ; i++) free_ids[i] = (uint16_t)i;
    uint16_t next_avail = 0, seen_used = 0;
    uint64_t seq = 0, kicks = 0, done = 0, start = now_ns(), t0 = 0, k0 = 0, d0 = 0;
    double warm = seconds / 4, rate = 0, kicks_frame = 0;
    int state = 0;
    for (uint64_t pass = 0;; pass++) {
        uint16_t ui = __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE);
        for (; seen_used != ui; seen_used++, done++) free_ids[nfree++] = (uint16_t)sh->used.ring[seen_used % QSZ].id;
        if ((pass & 31) == 0) {
            uint64_t t = now_ns();
            if (state == 0 && t - start > (uint64_t)(warm * 1e9)) {
                t0 = t; k0 = kicks; d0 = done; state = 1;
                __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
                if (notify) { uint64_t one = 1; (void)!write(kick, &one, sizeof one); }
            } else if (state == 1 && t - t0 > (uint64_t)(seconds * 1e9)) {
                rate = (double)(done - d0) / (double)(t - t0) * 1e3;
                kicks_frame = done > d0 ? (double)(kicks - k0) / (double)(done - d0) : 0;
                __atomic_store_n(&sh->state, 2, __ATOMIC_RELEASE);
                if (notify) { uint64_t one = 1; (void)!write(kick, &one, sizeof one); }
                break;
            }
        }
        if (nfree < (unsigned)batch) continue; /* wait for ids to come back */
        for (int i = 0; i < batch; i++) {
            uint16_t id = free_ids[--nfree];
            uint8_t *buf = sh->tx[id];
            memcpy(buf, pattern, (size_t)payload);
            memcpy(buf, &seq, sizeof seq);
            seq++;
            sh->desc[id] = (struct desc){ (uint64_t)((uint8_t *)buf - (uint8_t *)sh), (uint32_t)payload, 0, 0 };
            sh->avail.ring[(uint16_t)(next_avail + i) % QSZ] = id;
        }
        uint16_t old = next_avail;
        next_avail = (uint16_t)(next_avail + batch);
        __atomic_store_n(&sh->avail.idx, next_avail, __ATOMIC_RELEASE); /* descriptors and ring before the index */
        if (notify) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the index before reading avail_event */
            if (passed(__atomic_load_n(&sh->used.avail_event, __ATOMIC_RELAXED), next_avail, old)) {
                uint64_t one = 1;
                if (write(kick, &one, sizeof one) == (ssize_t)sizeof one) kicks++;
            }
        }
    }
    uint64_t wait_from = now_ns();
    while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
        if (now_ns() - wait_from > 2000000000ull) { kill(child, SIGKILL); fprintf(stderr, "cring: the device did not stop\n"); break; }
        usleep(100);
    }
    waitpid(child, NULL, 0);
    double frames = sh->frames ? (double)sh->frames : 1;
    printf("mpps=%.3f busy_ns_frame=%.2f device_cpu_pct=%.1f kicks_frame=%.5f seq_errors=%llu\n",
           rate, sh->busy_ns / frames, sh->wall_ns > 0 ? 100 * sh->cpu_ns / sh->wall_ns : 0, kicks_frame, (unsigned long long)sh->errors);
    return sh->errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "c2c"))
        return c2c(argc > 2 ? atof(argv[2]) : 0.35);
    if (argc >= 3 && !strcmp(argv[1], "speed")) {
        int cpu = atoi(argv[2]);
        double seconds = argc > 3 ? atof(argv[3]) : 0.2;
        if (cpu >= 0 && cpu < CPU_SETSIZE && seconds > 0) return speed(cpu, seconds);
    }
    if (argc >= 5 && !strcmp(argv[1], "ring")) {
        notify = !strcmp(argv[2], "notify");
        batch = atoi(argv[3]);
        payload = atoi(argv[4]);
        double seconds = argc > 5 ? atof(argv[5]) : 0.5;
        if ((notify || !strcmp(argv[2], "poll")) && batch >= 1 && batch <= (int)QSZ && payload >= 8 && payload <= (int)BUFSZ && seconds > 0)
            return ring(seconds);
    }
    fprintf(stderr, "usage: cring c2c [SECONDS]\n       cring speed CPU [SECONDS]\n       cring ring poll|notify BATCH PAYLOAD [SECONDS]\n");
    return 2;
}
