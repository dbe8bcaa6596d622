/* The fast decoder's int8 kernels for x86 CPUs with AVX-512 VNNI (bot/generation/native.py
 * compiles this file at first use and calls it through ctypes).
 *
 * tb_linear:      y = act(norm(x) @ W^T * scale + bias), or y += that. Each input row is
 *                 layer-normed (optional), then quantized to int8 over its own range; the
 *                 weights are int8 with one scale per output, stored +128 as uint8 in tiles
 *                 of 32 outputs x 4 inputs, so that one VNNI instruction multiplies 64 weight
 *                 bytes by 4 input bytes of a row. Every weight byte is read once per call for
 *                 up to 8 rows: decoding is bound by reading the weights from memory.
 * tb_attend_step: one decoding position of multi-head attention over a key/value cache
 *                 (fp32 or bf16), storing the new position's keys and values first.
 *
 * tb_set_threads: helper threads for both. A call's units (matmul tiles, attention (row,
 *                 head) pairs) are claimed in blocks by the caller and the helpers alike,
 *                 so a helper that another process keeps off its core costs at most the
 *                 block it holds; idle helpers sleep in a futex.
 *
 * Nothing is allocated on the heap; calls are serialized (one job slot).
 */
#include <immintrin.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TILE 32       /* outputs per weight tile: two zmm registers of int32 sums */
#define MAX_ROWS 8    /* rows sharing one pass over the weights (16 accumulators) */
#define PREFETCH 4096 /* bytes ahead to pull into L2: measured best of 1-16 KiB here */

enum { STORE = 0, ACCUMULATE = 1, GELU_TANH = 2 };

/* exp(v) for 16 floats: 2^n * 2^f with f in [-0.5, 0.5] (degree 6, relative error ~2e-7). */
static inline __m512 exp16(__m512 v) {
    v = _mm512_max_ps(_mm512_min_ps(v, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-88.0f));
    __m512 t = _mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f));
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* GPT-2's tanh GELU as x * sigmoid(2z), z = sqrt(2/pi) * (x + 0.044715 x^3). */
static inline __m512 gelu16(__m512 x) {
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 inner = _mm512_fmadd_ps(x2, _mm512_set1_ps(0.0713548162726f), _mm512_set1_ps(1.5957691216057308f));
    __m512 e = exp16(_mm512_mul_ps(_mm512_mul_ps(x, inner), _mm512_set1_ps(-1.0f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* Layer-norm (when gamma is given) and quantize `rows` rows of k floats to int8 (padded with
 * zeros to kp), keeping each row's scale and the sum of its int8 values. */
static void quantize_rows(const float *x, int64_t ldx, int rows, int64_t k, int64_t kp,
                          const float *gamma, const float *beta, float eps, float *scratch,
                          int8_t *xq, int32_t *sums, float *scales) {
    for (int r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        if (gamma) {
            double total = 0.0;
            for (int64_t i = 0; i < k; i++) total += row[i];
            float mean = (float)(total / (double)k);
            double spread = 0.0;
            for (int64_t i = 0; i < k; i++) spread += (double)(row[i] - mean) * (row[i] - mean);
            float rstd = 1.0f / sqrtf((float)(spread / (double)k) + eps);
            for (int64_t i = 0; i < k; i++) scratch[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
            row = scratch;
        }
        __m512 top = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= k; i += 16) top = _mm512_max_ps(top, _mm512_abs_ps(_mm512_loadu_ps(row + i)));
        float amax = _mm512_reduce_max_ps(top);
        for (; i < k; i++) amax = fmaxf(amax, fabsf(row[i]));
        float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        float inverse = 1.0f / scale;
        int8_t *q = xq + r * kp;
        __m512 inv = _mm512_set1_ps(inverse);
        __m512i total16 = _mm512_setzero_si512();
        for (i = 0; i + 16 <= k; i += 16) {
            /* Round to nearest even (the default rounding mode), as lrintf below. */
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + i), inv));
            total16 = _mm512_add_epi32(total16, v);
            _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtsepi32_epi8(v));
        }
        int32_t sum = _mm512_reduce_add_epi32(total16);
        for (; i < k; i++) {
            int32_t v = (int32_t)lrintf(row[i] * inverse);
            q[i] = (int8_t)v;
            sum += v;
        }
        for (int64_t i = k; i < kp; i++) q[i] = 0;
        sums[r] = sum;
        scales[r] = scale;
    }
}

/* One tile of 32 outputs for `rows` rows (a constant after inlining, so the sums stay in
 * registers), then the epilogue. */
static inline __attribute__((always_inline)) void tile(
    int rows, const uint8_t *w, int64_t k4, const int8_t *xq, int64_t kp, const int32_t *sums,
    const float *xs, const float *ws, const float *bias, float *y, int64_t ldy, int64_t n0,
    int64_t n, int mode) {
    __m512i acc[MAX_ROWS][2];
#pragma GCC unroll 8
    for (int r = 0; r < MAX_ROWS; r++)
        if (r < rows) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (int64_t j = 0; j < k4; j++) {
        _mm_prefetch((const char *)(w + j * 128 + PREFETCH), _MM_HINT_T1);
        _mm_prefetch((const char *)(w + j * 128 + PREFETCH + 64), _MM_HINT_T1);
        __m512i w0 = _mm512_loadu_si512(w + j * 128);
        __m512i w1 = _mm512_loadu_si512(w + j * 128 + 64);
#pragma GCC unroll 8
        for (int r = 0; r < MAX_ROWS; r++) {
            if (r < rows) {
                /* uint8 weights (+128) times the row's 4 int8 inputs, summed into int32. */
                __m512i b = _mm512_set1_epi32(*(const int32_t *)(xq + r * kp + j * 4));
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], w0, b);
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], w1, b);
            }
        }
    }
    for (int half = 0; half < 2; half++) {
        int64_t start = n0 + half * 16;
        if (start >= n) break;
        int64_t left = n - start;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 wsv = _mm512_maskz_loadu_ps(mask, ws + start);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + start) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int r = 0; r < MAX_ROWS; r++) {
            if (r < rows) {
                /* The +128 of every weight added 128 * (sum of the row's inputs). */
                __m512i c = _mm512_sub_epi32(acc[r][half], _mm512_set1_epi32(128 * sums[r]));
                __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c),
                                           _mm512_mul_ps(wsv, _mm512_set1_ps(xs[r])), bv);
                float *out = y + r * ldy + start;
                if (mode == ACCUMULATE) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
                if (mode == GELU_TANH) v = gelu16(v);
                _mm512_mask_storeu_ps(out, mask, v);
            }
        }
    }
}

/* One call's work, shared with the helper threads: matmul tiles or attention (row, head)
 * pairs, claimed in blocks from `next`, whose high 32 bits are the job's number, so a helper
 * that wakes late cannot claim a unit of the next job with this job's arguments (a failed
 * compare-and-swap). */
enum { MATMUL = 0, ATTENTION = 1 };

typedef struct {
    int kind;
    int64_t units, block;
    /* MATMUL: one unit is a tile of 32 outputs for `rows` rows. */
    const uint8_t *w;
    int64_t k4, kp, ldy, n;
    const int8_t *xq;
    const int32_t *sums;
    const float *xs, *ws, *bias;
    float *y;
    int rows, mode;
    /* ATTENTION: one unit is one (row, head) pair. */
    const float *qkv;
    int64_t heads, hd, capacity, pos;
    void *keys, *values;
    int bf16;
    float *out;
} job_t;

static job_t job;
static _Atomic uint64_t next;      /* (job number << 32) | first unclaimed unit */
static _Atomic int64_t finished;   /* units of the current job done */
static _Atomic uint32_t published; /* the current job's number: the helpers' futex word */
static _Atomic int sleeping;       /* helpers waiting in the futex */
static int helpers;                /* helper threads started */
static int wanted = 1;             /* threads per call, the caller included */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

static inline __m512 load16(const void *cache, int64_t index, int bf16) {
    if (!bf16) return _mm512_loadu_ps((const float *)cache + index);
    __m256i half = _mm256_loadu_si256((const __m256i *)((const uint16_t *)cache + index));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
}

static inline void store16(void *cache, int64_t index, __m512 v, int bf16) {
    if (!bf16) {
        _mm512_storeu_ps((float *)cache + index, v);
        return;
    }
    /* fp32 -> bf16, rounding to nearest even (as torch's conversion does). */
    __m512i bits = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    bits = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
    _mm256_storeu_si256((__m256i *)((uint16_t *)cache + index),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
}

/* One (row, head) of a decoding step: store the position's key and value, then attend. */
static void attend_one(const job_t *j, int64_t unit) {
    int64_t r = unit / j->heads, h = unit % j->heads, hd = j->hd, d = j->heads * hd;
    int64_t count = j->pos + 1, base = unit * j->capacity * hd;
    const float *row = j->qkv + r * 3 * d;
    for (int64_t i = 0; i < hd; i += 16) {
        store16(j->keys, base + j->pos * hd + i, _mm512_loadu_ps(row + d + h * hd + i), j->bf16);
        store16(j->values, base + j->pos * hd + i, _mm512_loadu_ps(row + 2 * d + h * hd + i),
                j->bf16);
    }
    __m512 q[16];
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t i = 0; i < hd / 16; i++)
        q[i] = _mm512_mul_ps(_mm512_loadu_ps(row + h * hd + i * 16), _mm512_set1_ps(scale));
    float scores[count + 16];
    float best = -INFINITY;
    for (int64_t p = 0; p < count; p++) {
        __m512 dot = _mm512_setzero_ps();
        for (int64_t i = 0; i < hd / 16; i++)
            dot = _mm512_fmadd_ps(q[i], load16(j->keys, base + p * hd + i * 16, j->bf16), dot);
        scores[p] = _mm512_reduce_add_ps(dot);
        best = fmaxf(best, scores[p]);
    }
    __m512 top = _mm512_set1_ps(best), sum = _mm512_setzero_ps();
    for (int64_t p = 0; p < count; p += 16) {
        __mmask16 mask = count - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - p)) - 1);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, scores + p), top));
        e = _mm512_maskz_mov_ps(mask, e);
        _mm512_mask_storeu_ps(scores + p, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    float inverse = 1.0f / _mm512_reduce_add_ps(sum);
    __m512 acc[16];
    for (int64_t i = 0; i < hd / 16; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < count; p++) {
        __m512 weight = _mm512_set1_ps(scores[p] * inverse);
        for (int64_t i = 0; i < hd / 16; i++)
            acc[i] = _mm512_fmadd_ps(weight, load16(j->values, base + p * hd + i * 16, j->bf16),
                                     acc[i]);
    }
    for (int64_t i = 0; i < hd / 16; i++) _mm512_storeu_ps(j->out + r * d + h * hd + i * 16, acc[i]);
}

static void run_units(const job_t *j, int64_t first, int64_t last) {
    for (int64_t u = first; u < last; u++) {
        if (j->kind == ATTENTION) {
            attend_one(j, u);
            continue;
        }
        const uint8_t *wt = j->w + u * j->k4 * 128;
        switch (j->rows) {
#define ROWS(R)                                                                          \
    case R:                                                                              \
        tile(R, wt, j->k4, j->xq, j->kp, j->sums, j->xs, j->ws, j->bias, j->y, j->ldy, \
             u * TILE, j->n, j->mode);                                                   \
        break;
            ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8)
#undef ROWS
        }
    }
}

/* Claim and run blocks of job `number` until none is left. */
static void work(uint32_t number) {
    for (;;) {
        uint64_t seen = atomic_load_explicit(&next, memory_order_acquire);
        if ((uint32_t)(seen >> 32) != number) return;
        int64_t first = (int64_t)(seen & 0xFFFFFFFFu);
        if (first >= job.units) return;
        int64_t last = first + job.block < job.units ? first + job.block : job.units;
        uint64_t claimed = ((uint64_t)number << 32) | (uint64_t)last;
        if (!atomic_compare_exchange_weak_explicit(&next, &seen, claimed, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        run_units(&job, first, last);
        atomic_fetch_add_explicit(&finished, last - first, memory_order_release);
    }
}

static void *helper(void *unused) {
    (void)unused;
    uint32_t done = 0;
    for (;;) {
        uint32_t number;
        /* Spin briefly (decoding calls come every few hundred microseconds), then sleep. */
        for (int spin = 0; (number = atomic_load(&published)) == done; spin++) {
            if (spin < 20000) {
                _mm_pause();
                continue;
            }
            atomic_fetch_add(&sleeping, 1);
            syscall(SYS_futex, &published, FUTEX_WAIT_PRIVATE, done, NULL, NULL, 0);
            atomic_fetch_sub(&sleeping, 1);
            spin = 0;
        }
        done = number;
        work(number);
    }
    return NULL;
}

/* Threads the kernels use, the caller included (1: no helpers); returns the count set. */
int tb_set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    pthread_mutex_lock(&start_lock);
    while (helpers < threads - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, helper, NULL);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        helpers++;
    }
    wanted = threads < helpers + 1 ? threads : helpers + 1;
    pthread_mutex_unlock(&start_lock);
    return wanted;
}

/* Close the previous job (no unit left to claim in it) before the slot changes; the number
 * the next job will have. */
static uint32_t close_job(void) {
    uint32_t number = atomic_load(&published) + 1;
    atomic_store(&next, ((uint64_t)(number - 1) << 32) | 0xFFFFFFFFu);
    return number;
}

/* Run the job just written to the slot, on `threads` threads. */
static void run_job(uint32_t number, int threads) {
    if (threads == 1 || job.units == 1) {
        run_units(&job, 0, job.units);
        return;
    }
    /* Blocks small enough to share the work, large enough to claim rarely. */
    int64_t block = job.units / (threads * 8);
    job.block = block < 1 ? 1 : block;
    atomic_store(&finished, 0);
    atomic_store_explicit(&next, (uint64_t)number << 32, memory_order_release);
    atomic_store(&published, number);
    if (atomic_load(&sleeping) > 0)
        syscall(SYS_futex, &published, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    /* The caller works too: when a helper is descheduled, it takes the helper's share. */
    work(number);
    /* Wait for the blocks the helpers hold; yield once it takes long, in case a helper waits
     * for this very core. */
    for (int spin = 0; atomic_load_explicit(&finished, memory_order_acquire) < job.units; spin++) {
        if (spin < 2000)
            _mm_pause();
        else
            sched_yield();
    }
}

int tb_linear(const float *x, int64_t rows, int64_t ldx, int64_t k, const float *gamma,
              const float *beta, float eps, const uint8_t *w, int64_t n, int64_t kp,
              const float *ws, const float *bias, float *y, int64_t ldy, int mode) {
    if (kp % 4 || kp < k || k < 1 || n < 1 || rows < 0 || mode < STORE || mode > GELU_TANH)
        return -1;
    int8_t xq[MAX_ROWS * kp] __attribute__((aligned(64)));
    float scratch[k];
    int32_t sums[MAX_ROWS];
    float xs[MAX_ROWS];
    int64_t tiles = (n + TILE - 1) / TILE;
    /* One job at a time: the job slot is shared with the helpers. */
    pthread_mutex_lock(&call_lock);
    for (int64_t r0 = 0; r0 < rows; r0 += MAX_ROWS) {
        int chunk = rows - r0 < MAX_ROWS ? (int)(rows - r0) : MAX_ROWS;
        quantize_rows(x + r0 * ldx, ldx, chunk, k, kp, gamma, beta, eps, scratch, xq, sums, xs);
        uint32_t number = close_job();
        job = (job_t){.kind = MATMUL, .units = tiles, .block = 1, .w = w, .k4 = kp / 4,
                      .kp = kp, .ldy = ldy, .n = n, .xq = xq, .sums = sums, .xs = xs,
                      .ws = ws, .bias = bias, .y = y + r0 * ldy, .rows = chunk, .mode = mode};
        run_job(number, wanted);
    }
    pthread_mutex_unlock(&call_lock);
    return 0;
}

/* qkv: (rows, 3 * heads * hd) for position `pos`; keys/values: (rows, heads, capacity, hd)
 * in fp32 or bf16; out: (rows, heads * hd). Stores the position's keys and values, then
 * attends over positions 0..pos. */
int tb_attend_step(const float *qkv, int64_t rows, int64_t heads, int64_t hd, void *keys,
                   void *values, int64_t capacity, int64_t pos, int bf16, float *out) {
    if (hd % 16 || hd > 256 || pos < 0 || pos >= capacity || rows < 1 || heads < 1) return -1;
    pthread_mutex_lock(&call_lock);
    uint32_t number = close_job();
    job = (job_t){.kind = ATTENTION, .units = rows * heads, .block = 1, .qkv = qkv,
                  .heads = heads, .hd = hd, .capacity = capacity, .pos = pos, .keys = keys,
                  .values = values, .bf16 = bf16, .out = out};
    run_job(number, wanted);
    pthread_mutex_unlock(&call_lock);
    return 0;
}
