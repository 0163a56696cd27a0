/* The C peers of crabmix's log density on the same emulated core and inputs (peers_inputs.h,
 * written by peers/export from crabmix's own model and samples). Each region is PEER_N calls
 * between the markers, like src/bin/insn_count.rs; after the regions each peer's results are
 * checked against crabmix's (|Δ| ≤ PEER_TOL·(1 + |want|), natural-log units) and printed for run.sh:
 *   region <name> calls=<n>            (before each region, paired with the plugin's counts)
 *   result <name> max_abs_diff_e9=<i> sum_e6=<i> ok|FAILED
 * Built three times by run.sh: -O2 (every peer), and emlearn alone (PEER_EML_ONLY, named by
 * PEER_EML_NAME) at -O2 -fsingle-precision-constant and at -Os. */
#include <math.h>
#include <stdint.h>
#include "peer.h"
#include "peers_inputs.h"
#include "eml_mixture.h"
#ifndef PEER_EML_ONLY
#include "dsp/bayes_functions.h"
#endif

/* Agreement with crabmix: |got − want| ≤ PEER_TOL·(1 + |want|), i.e. a few f32 rounding steps
 * of terms as large as |want| (the naive Bayes' class terms reach −80: 7.6e-6 absolute seen). */
#define PEER_TOL 1e-6f

static void put_int(const char *key, long long v) {
    char buf[32], *p = buf + sizeof buf;
    int neg = v < 0;
    unsigned long long u = neg ? -(unsigned long long)v : (unsigned long long)v;
    *--p = 0;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (neg) *--p = '-';
    peer_puts(key);
    peer_puts(p);
}

static void region(const char *name) {
    peer_puts("region ");
    peer_puts(name);
    peer_puts(" calls=64\n");
}

/* Prints the result line; returns 1 when every |got − want| ≤ PEER_TOL·(1 + |want|). */
static int result(const char *name, const float *got, const float *want, int n) {
    float worst = 0.0f, sum = 0.0f;
    int ok = 1;
    for (int i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= worst)) worst = d; /* a NaN sticks */
        ok &= d <= PEER_TOL * (1.0f + fabsf(want[i]));
        sum += got[i];
    }
    peer_puts("result ");
    peer_puts(name);
    put_int(" max_abs_diff_e9=", (long long)(worst * 1e9f));
    put_int(" sum_e6=", (long long)(sum * 1e6f));
    peer_puts(ok ? " ok\n" : " FAILED\n");
    return ok;
}

static float score[PEER_N], comp[PEER_N * PEER_K];

int main(void) {
    EmlMixtureModel model = {PEER_K, PEER_D, EmlCovarianceFull, peer_means, peer_precisions,
                             peer_log_dets, peer_log_weights};
    float probs[PEER_K];
    int ok = 1, status = 0;
    const float *volatile xs = peer_samples; /* opaque to the optimizer */

#ifndef PEER_EML_NAME
#define PEER_EML_NAME "emlearn"
#endif
#define EML_NAME PEER_EML_NAME
    region(EML_NAME);
    peer_mark_start();
    for (int i = 0; i < PEER_N; i++)
        status |= eml_mixture_score(&model, xs + PEER_D * i, PEER_D, probs, &score[i]);
    peer_mark_end();
    ok &= status == EmlOk;
    ok &= result(EML_NAME, score, crabmix_log_density, PEER_N);

#ifndef PEER_EML_ONLY
    arm_gaussian_naive_bayes_instance_f32 nb = {PEER_D, PEER_K, peer_means, peer_variances, peer_weights, 0.0f};
    float buffer[PEER_K];
    region("cmsis_nb");
    peer_mark_start();
    for (int i = 0; i < PEER_N; i++)
        status |= (int)arm_gaussian_naive_bayes_predict_f32(&nb, xs + PEER_D * i, comp + PEER_K * i, buffer) >= PEER_K;
    peer_mark_end();
    ok &= status == 0;
    ok &= result("cmsis_nb", comp, crabmix_component_log_probs, PEER_N * PEER_K);

    /* newlib's expf and logf alone, on arguments of the size the kernels see. */
    static float e[PEER_N], l[PEER_N], want_e[PEER_N], want_l[PEER_N];
    region("newlib_expf");
    peer_mark_start();
    for (int i = 0; i < PEER_N; i++) e[i] = expf(-0.5f * xs[PEER_D * i]);
    peer_mark_end();
    region("newlib_logf");
    peer_mark_start();
    for (int i = 0; i < PEER_N; i++) l[i] = logf(1.0f + fabsf(xs[PEER_D * i]));
    peer_mark_end();
    for (int i = 0; i < PEER_N; i++) {
        want_e[i] = (float)exp(-0.5 * (double)peer_samples[PEER_D * i]);
        want_l[i] = (float)log(1.0 + (double)fabsf(peer_samples[PEER_D * i]));
    }
    ok &= result("newlib_expf", e, want_e, PEER_N);
    ok &= result("newlib_logf", l, want_l, PEER_N);
    /* The plugin's classifier on a known sequence (run.sh checks its mix line): one VDIV, one
     * VSQRT, two FPU (VMLA, VADD), two multiplies (MLA, UMULL), one taken and one untaken
     * conditional branch, between the markers' own call and return. */
    peer_puts("region kcount_selftest calls=1\n");
    peer_mark_start();
    __asm__ volatile("vdiv.f32 s0, s0, s1\n vsqrt.f32 s0, s0\n vmla.f32 s0, s1, s2\n vadd.f32 s0, s0, s1\n"
                     "mla r0, r0, r1, r2\n umull r0, r1, r2, r3\n"
                     "cmp r0, r0\n beq 1f\n nop\n1:\n movs r0, #0\n cmp r0, #1\n beq 2f\n nop\n2:\n"
                     ::: "s0", "s1", "s2", "r0", "r1", "cc");
    peer_mark_end();
    peer_puts("result kcount_selftest max_abs_diff_e9=0 sum_e6=0 ok\n");
#endif
    peer_puts(ok ? "peers: ok\n" : "peers: FAILED\n");
    return ok ? 0 : 1;
}
