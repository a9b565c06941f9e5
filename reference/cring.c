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
 *   cring ring poll|notify BATCH PAYLOAD [SECONDS [split|packed [QUEUE_SIZE]]]
 *       A virtqueue loopback between two processes sharing a memfd, split rings by default,
 *       QUEUE_SIZE descriptors (256; a power of two up to 32768). The parent (CPU 0) plays
 *       the driver: it writes PAYLOAD bytes (a sequence number first) into free 2 KiB TX
 *       buffers (one per descriptor) and posts them BATCH at a time; the child (CPU 1) plays
 *       the device: it copies each frame into the next of 256 RX buffers (its own memory),
 *       checks the sequence, and returns the buffer, publishing once per batch.
 *       split (virtio 1.1, 2.6): the driver fills descriptors and the avail ring and
 *       publishes avail.idx with a release store; the device polls avail.idx (acquire),
 *       writes used elements and publishes used.idx; the driver takes ids back from the used
 *       ring. Descriptor table, avail ring and used ring each have one writer.
 *       packed (2.7): one ring of 16-byte descriptors {addr, len, id, flags} both sides
 *       write. The driver writes addr, len and id, then the flags (AVAIL/USED bits from its
 *       wrap counter) with a release store, the batch's first descriptor last; the device
 *       reads each descriptor's flags with acquire and overwrites it as used (id, len, then
 *       flags with release, the batch's first last); the driver reclaims by reading the used
 *       flags. In order: one descriptor per buffer, the used position is the avail position.
 *       In notify mode the device sleeps on a kick eventfd when the ring is empty, after
 *       asking for a kick (split: avail_event; packed: its event suppression structure,
 *       DESC mode with the offset and wrap counter it waits at, DISABLE again once awake)
 *       and re-checking behind a full fence (event index suppression); the driver kicks only
 *       when what it published passed that point. The driver never sleeps: it polls used.
 *       Prints mpps (frames completed per second), busy_ns_frame (the device's time outside
 *       its waits per frame: its own capacity is 1000 / that in Mpps), device_cpu_pct,
 *       kicks_frame and seq_errors.
 *
 * gcc -O2 -Wall -pthread -o cring cring.c
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

#define QSZ 256u   /* the default queue size */
#define RXN 256u   /* the device's RX buffers, whatever the queue size */
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

/* Both layouts share one memfd: a header (the run's state, the device's results), the ring
 * at the next page, then 2 KiB TX buffers (one per descriptor) and the device's RXN RX
 * buffers. The ring's parts sit where the spec's layout puts them for the queue size, so
 * that which lines each side writes is the real layout's. */
struct hdr {
    _Alignas(64) int state;               /* 0 warm-up, 1 measuring, 2 stop: written by the driver */
    _Alignas(64) uint64_t frames, errors;  /* the device's results */
    double busy_ns, wall_ns, cpu_ns;
    int done;
};

/* split (2.6): descriptor table, avail ring {flags, idx, ring[q], used_event}, used ring
 * {flags, idx, ring[q] of {id, len}, avail_event}, each part on its own page */
struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct used_elem { uint32_t id, len; };
/* packed (2.7): one ring of 16-byte descriptors both sides write, and the two event
 * suppression structures, each in its own line */
struct pdesc { uint64_t addr; uint32_t len; uint16_t id, flags; };
struct evsup { uint16_t off_wrap, flags; };
#define PD_AVAIL (1u << 7)
#define PD_USED (1u << 15)
#define EV_ENABLE 0u
#define EV_DISABLE 1u
#define EV_DESC 2u

static int notify, batch, payload, packed;
static unsigned qsz = QSZ;
static struct { size_t desc, avail, used, drv_ev, dev_ev, tx, rx, total; } lay;

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

static void layout(void)
{
    size_t at = align_up(sizeof(struct hdr), 4096);
    lay.desc = at;
    if (packed) {
        at = align_up(at + qsz * sizeof(struct pdesc), 64);
        lay.drv_ev = at;
        lay.dev_ev = at += 64;
        at += 64;
    } else {
        lay.avail = at = align_up(at + qsz * sizeof(struct desc), 4096);
        lay.used = at = align_up(at + 4 + 2 * qsz + 2, 4096);
        at += 4 + 8 * qsz + 2;
    }
    lay.tx = at = align_up(at, 4096);
    lay.rx = at += (size_t)qsz * BUFSZ;
    lay.total = at + (size_t)RXN * BUFSZ;
}

#define AT(base, off, type) ((type *)((uint8_t *)(base) + (off)))
#define AVAIL_IDX(b) AT(b, lay.avail + 2, uint16_t)
#define AVAIL_RING(b) AT(b, lay.avail + 4, uint16_t)
#define USED_IDX(b) AT(b, lay.used + 2, uint16_t)
#define USED_RING(b) AT(b, lay.used + 4, struct used_elem)
#define AVAIL_EVENT(b) AT(b, lay.used + 4 + 8 * qsz, uint16_t)

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

/* A packed descriptor's flags say available (driver's wrap counter w) or used (device's w). */
static int pd_avail(uint16_t f, unsigned w) { return !!(f & PD_AVAIL) == w && !!(f & PD_USED) != w; }
static int pd_used(uint16_t f, unsigned w) { return !!(f & PD_AVAIL) == w && !!(f & PD_USED) == w; }

/* The device's side of one run: its counters, the state it follows, the RX slot. */
struct dev {
    struct hdr *sh;
    uint64_t frames, errors, expect, f0, busy0, busy, t0;
    double c0;
    unsigned slot;
    int state;
};

/* Follows the driver's state; at "stop" writes the results and exits. */
static void dev_state(struct dev *d)
{
    int s = __atomic_load_n(&d->sh->state, __ATOMIC_ACQUIRE);
    if (s == d->state) return;
    if (s == 1) { d->f0 = d->frames; d->busy0 = d->busy; d->t0 = now_ns(); d->c0 = cpu_self_ns(); d->state = s; return; }
    d->sh->wall_ns = (double)(now_ns() - d->t0);
    d->sh->cpu_ns = cpu_self_ns() - d->c0;
    d->sh->busy_ns = (double)(d->busy - d->busy0);
    d->sh->frames = d->frames - d->f0;
    d->sh->errors = d->errors;
    __atomic_store_n(&d->sh->done, 1, __ATOMIC_RELEASE);
    _exit(0);
}

/* Copies one frame into the next RX buffer and checks its sequence number. */
static void dev_copy(struct dev *d, uint64_t addr, uint32_t len)
{
    uint8_t *dst = (uint8_t *)d->sh + lay.rx + (size_t)d->slot * BUFSZ;
    d->slot = (d->slot + 1) % RXN;
    memcpy(dst, (uint8_t *)d->sh + addr, len);
    uint64_t seq;
    memcpy(&seq, dst, sizeof seq);
    d->errors += seq != d->expect;
    d->expect = seq + 1;
}

static void dev_sleep(int kick)
{
    uint64_t v;
    if (read(kick, &v, sizeof v) < 0 && errno != EINTR) { perror("read kick"); _exit(1); }
}

static void device_split(struct dev *d, int kick)
{
    struct hdr *sh = d->sh;
    struct desc *desc = AT(sh, lay.desc, struct desc);
    uint16_t seen = 0, used_idx = 0;
    for (;;) {
        dev_state(d);
        uint16_t n = (uint16_t)(__atomic_load_n(AVAIL_IDX(sh), __ATOMIC_ACQUIRE) - seen);
        if (n == 0) {
            if (notify) {
                __atomic_store_n(AVAIL_EVENT(sh), seen, __ATOMIC_RELAXED);
                __atomic_thread_fence(__ATOMIC_SEQ_CST); /* publish avail_event before the re-check */
                if (__atomic_load_n(AVAIL_IDX(sh), __ATOMIC_ACQUIRE) == seen && __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == d->state)
                    dev_sleep(kick);
            }
            continue;
        }
        uint64_t b0 = now_ns();
        if (n > batch) n = (uint16_t)batch;
        for (uint16_t i = 0; i < n; i++) {
            uint16_t id = AVAIL_RING(sh)[(uint16_t)(seen + i) % qsz];
            struct desc dd = desc[id];
            dev_copy(d, dd.addr, dd.len);
            USED_RING(sh)[(uint16_t)(used_idx + i) % qsz] = (struct used_elem){ id, dd.len };
        }
        seen = (uint16_t)(seen + n);
        used_idx = (uint16_t)(used_idx + n);
        __atomic_store_n(USED_IDX(sh), used_idx, __ATOMIC_RELEASE); /* the used elements before the index */
        d->frames += n;
        d->busy += now_ns() - b0;
    }
}

/* The packed device, in order (one descriptor per buffer, so its used position is its avail
 * position): each descriptor's flags read with acquire, the frame copied, the used
 * descriptor written into the same slot (id, len, then flags with release); the batch's first
 * used flags last, so the driver sees the batch whole or not at all. */
static void device_packed(struct dev *d, int kick)
{
    struct hdr *sh = d->sh;
    struct pdesc *ring = AT(sh, lay.desc, struct pdesc);
    struct evsup *ev = AT(sh, lay.dev_ev, struct evsup);
    unsigned next = 0, wrap = 1;
    for (;;) {
        dev_state(d);
        if (!pd_avail(__atomic_load_n(&ring[next].flags, __ATOMIC_ACQUIRE), wrap)) {
            if (notify) {
                /* Kick me when the descriptor at next (this lap) is made available. */
                __atomic_store_n(&ev->off_wrap, (uint16_t)(next | wrap << 15), __ATOMIC_RELAXED);
                __atomic_store_n(&ev->flags, (uint16_t)EV_DESC, __ATOMIC_RELAXED);
                __atomic_thread_fence(__ATOMIC_SEQ_CST); /* publish the event before the re-check */
                if (!pd_avail(__atomic_load_n(&ring[next].flags, __ATOMIC_ACQUIRE), wrap) && __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == d->state)
                    dev_sleep(kick);
                /* Awake: no kicks while it works (a stale event would be passed again every
                 * other lap). */
                __atomic_store_n(&ev->flags, (uint16_t)EV_DISABLE, __ATOMIC_RELAXED);
            }
            continue;
        }
        uint64_t b0 = now_ns();
        unsigned first = next, n = 0;
        uint16_t first_flags = 0;
        do {
            struct pdesc *p = &ring[next];
            uint64_t addr = p->addr;
            uint32_t len = p->len;
            uint16_t id = p->id;
            dev_copy(d, addr, len);
            uint16_t f = wrap ? (uint16_t)(PD_AVAIL | PD_USED) : 0;
            p->len = len;
            p->id = id;
            if (n == 0) first_flags = f;
            else __atomic_store_n(&p->flags, f, __ATOMIC_RELEASE); /* id and len before the flags */
            n++;
            if (++next == qsz) { next = 0; wrap ^= 1; }
        } while (n < (unsigned)batch && pd_avail(__atomic_load_n(&ring[next].flags, __ATOMIC_ACQUIRE), wrap));
        __atomic_store_n(&ring[first].flags, first_flags, __ATOMIC_RELEASE); /* the batch's other used descriptors before its first */
        d->frames += n;
        d->busy += now_ns() - b0;
    }
}

static void device(int memfd, int kick)
{
    pin(1);
    struct hdr *sh = mmap(NULL, lay.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (sh == MAP_FAILED) { perror("device mmap"); _exit(1); }
    struct dev d = { .sh = sh };
    if (packed) device_packed(&d, kick);
    else device_split(&d, kick);
}

/* The driver's side: buffer ids not in flight, the frame pattern, the sequence. */
struct drv {
    struct hdr *sh;
    uint16_t *free_ids;
    unsigned nfree;
    uint64_t seq, kicks, done;
    uint8_t pattern[BUFSZ];
};

/* Fills buffer id's TX frame (its sequence number first); returns its offset in the memfd. */
static uint64_t drv_frame(struct drv *v, uint16_t id)
{
    uint8_t *buf = (uint8_t *)v->sh + lay.tx + (size_t)id * BUFSZ;
    memcpy(buf, v->pattern, (size_t)payload);
    memcpy(buf, &v->seq, sizeof v->seq);
    v->seq++;
    return lay.tx + (size_t)id * BUFSZ;
}

static void drv_kick(struct drv *v, int kick)
{
    uint64_t one = 1;
    if (write(kick, &one, sizeof one) == (ssize_t)sizeof one) v->kicks++;
}

/* Split: take back what the device used; post one batch and publish avail.idx. */
static uint16_t split_next_avail, split_seen_used;
static void split_reclaim(struct drv *v)
{
    uint16_t ui = __atomic_load_n(USED_IDX(v->sh), __ATOMIC_ACQUIRE);
    for (; split_seen_used != ui; split_seen_used++, v->done++)
        v->free_ids[v->nfree++] = (uint16_t)USED_RING(v->sh)[split_seen_used % qsz].id;
}

static void split_post(struct drv *v, int kick)
{
    struct desc *desc = AT(v->sh, lay.desc, struct desc);
    for (int i = 0; i < batch; i++) {
        uint16_t id = v->free_ids[--v->nfree];
        desc[id] = (struct desc){ drv_frame(v, id), (uint32_t)payload, 0, 0 };
        AVAIL_RING(v->sh)[(uint16_t)(split_next_avail + i) % qsz] = id;
    }
    uint16_t old = split_next_avail;
    split_next_avail = (uint16_t)(split_next_avail + batch);
    __atomic_store_n(AVAIL_IDX(v->sh), split_next_avail, __ATOMIC_RELEASE); /* descriptors and ring before the index */
    if (notify) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the index before reading avail_event */
        if (passed(__atomic_load_n(AVAIL_EVENT(v->sh), __ATOMIC_RELAXED), split_next_avail, old)) drv_kick(v, kick);
    }
}

/* Packed: the driver's avail position and wrap counter, its used position and wrap counter. */
static unsigned pk_avail, pk_avail_wrap = 1, pk_used, pk_used_wrap = 1;
static void packed_reclaim(struct drv *v)
{
    struct pdesc *ring = AT(v->sh, lay.desc, struct pdesc);
    while (pd_used(__atomic_load_n(&ring[pk_used].flags, __ATOMIC_ACQUIRE), pk_used_wrap)) {
        v->free_ids[v->nfree++] = ring[pk_used].id;
        v->done++;
        if (++pk_used == qsz) { pk_used = 0; pk_used_wrap ^= 1; }
    }
}

/* Writes a batch of descriptors (addr, len, id, then flags with release), the first one's
 * flags last, as Linux's and DPDK's drivers do: the device sees the batch whole or not at all.
 * Notify: kicks when the device's event suppression asks for it (Linux's
 * virtqueue_kick_prepare_packed). */
static void packed_post(struct drv *v, int kick)
{
    struct pdesc *ring = AT(v->sh, lay.desc, struct pdesc);
    unsigned first = pk_avail;
    uint16_t first_flags = 0;
    for (int i = 0; i < batch; i++) {
        uint16_t id = v->free_ids[--v->nfree];
        struct pdesc *p = &ring[pk_avail];
        uint16_t f = pk_avail_wrap ? (uint16_t)PD_AVAIL : (uint16_t)PD_USED;
        p->addr = drv_frame(v, id);
        p->len = (uint32_t)payload;
        p->id = id;
        if (i == 0) first_flags = f;
        else __atomic_store_n(&p->flags, f, __ATOMIC_RELEASE); /* addr, len and id before the flags */
        if (++pk_avail == qsz) { pk_avail = 0; pk_avail_wrap ^= 1; }
    }
    __atomic_store_n(&ring[first].flags, first_flags, __ATOMIC_RELEASE); /* the batch's other descriptors before its first */
    if (notify) {
        struct evsup *ev = AT(v->sh, lay.dev_ev, struct evsup);
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the flags before reading the device's event */
        uint16_t fl = __atomic_load_n(&ev->flags, __ATOMIC_RELAXED);
        if (fl == EV_ENABLE) { drv_kick(v, kick); return; }
        if (fl != EV_DESC) return;
        uint16_t ow = __atomic_load_n(&ev->off_wrap, __ATOMIC_RELAXED);
        uint16_t event = ow & 0x7fff, now = (uint16_t)pk_avail;
        if ((unsigned)(ow >> 15) != pk_avail_wrap) event = (uint16_t)(event - qsz); /* asked for in the previous lap */
        if (passed(event, now, (uint16_t)(now - batch))) drv_kick(v, kick);
    }
}

static int ring(double seconds)
{
    layout();
    int memfd = memfd_create("perflab-cring", 0);
    if (memfd < 0 || ftruncate(memfd, (off_t)lay.total) != 0) { perror("memfd"); return 1; }
    int kick = eventfd(0, 0);
    struct hdr *sh = mmap(NULL, lay.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (kick < 0 || sh == MAP_FAILED) { perror("setup"); return 1; }
    if (packed) {
        /* The device asks for a kick at the first descriptor (split's avail_event 0); the
         * driver polls its used descriptors and wants no notifications. */
        *AT(sh, lay.dev_ev, struct evsup) = (struct evsup){ 0 | 1u << 15, EV_DESC };
        *AT(sh, lay.drv_ev, struct evsup) = (struct evsup){ 0, EV_DISABLE };
    }
    pid_t child = fork();
    if (child == 0) device(memfd, kick);
    pin(0);
    struct drv v = { .sh = sh, .nfree = qsz };
    v.free_ids = malloc(qsz * sizeof *v.free_ids);
    if (!v.free_ids) { perror("malloc"); return 1; }
    for (unsigned i = 0; i < BUFSZ; i++) v.pattern[i] = (uint8_t)(i * 13 + 5);
    for (unsigned i = 0; i < qsz; i++) v.free_ids[i] = (uint16_t)i;
    uint64_t start = now_ns(), t0 = 0, k0 = 0, d0 = 0;
    double warm = seconds / 4, rate = 0, kicks_frame = 0;
    int state = 0;
    for (uint64_t pass = 0;; pass++) {
        if (packed) packed_reclaim(&v);
        else split_reclaim(&v);
        if ((pass & 31) == 0) {
            uint64_t t = now_ns();
            if (state == 0 && t - start > (uint64_t)(warm * 1e9)) {
                t0 = t; k0 = v.kicks; d0 = v.done; state = 1;
                __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
                if (notify) { uint64_t one = 1; (void)!write(kick, &one, sizeof one); }
            } else if (state == 1 && t - t0 > (uint64_t)(seconds * 1e9)) {
                rate = (double)(v.done - d0) / (double)(t - t0) * 1e3;
                kicks_frame = v.done > d0 ? (double)(v.kicks - k0) / (double)(v.done - d0) : 0;
                __atomic_store_n(&sh->state, 2, __ATOMIC_RELEASE);
                if (notify) { uint64_t one = 1; (void)!write(kick, &one, sizeof one); }
                break;
            }
        }
        if (v.nfree < (unsigned)batch) continue; /* wait for ids to come back */
        if (packed) packed_post(&v, kick);
        else split_post(&v, kick);
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
    if (argc >= 5 && argc <= 8 && !strcmp(argv[1], "ring")) {
        notify = !strcmp(argv[2], "notify");
        batch = atoi(argv[3]);
        payload = atoi(argv[4]);
        double seconds = argc > 5 ? atof(argv[5]) : 0.5;
        int layout_ok = argc <= 6 || !strcmp(argv[6], "split") || (packed = !strcmp(argv[6], "packed"));
        long q = argc > 7 ? atol(argv[7]) : (long)QSZ;
        /* a power of two: split's 16-bit indexes stay in step with the slots across their wrap;
         * at most 32768: packed's event offset has 15 bits */
        int q_ok = q >= 2 && q <= 32768 && (q & (q - 1)) == 0;
        qsz = (unsigned)q;
        if ((notify || !strcmp(argv[2], "poll")) && layout_ok && q_ok && batch >= 1 && batch <= (int)qsz && payload >= 8 && payload <= (int)BUFSZ && seconds > 0)
            return ring(seconds);
    }
    fprintf(stderr, "usage: cring c2c [SECONDS]\n       cring speed CPU [SECONDS]\n"
                    "       cring ring poll|notify BATCH PAYLOAD [SECONDS [split|packed [QUEUE_SIZE]]]\n");
    return 2;
}
