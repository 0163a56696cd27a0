/* Adapted from the recipe shared with the project (qemu-insn-count-plugin.c).
 * Minimal QEMU TCG plugin (API v1, QEMU 7.2) for deterministic instruction counting.
 * Declarations written by hand because Debian ships no qemu-plugin.h.
 * args: start=0xADDR,end=0xADDR  (addresses of #[no_mangle] marker fns; thumb bit ignored)
 * Prints total executed guest insns and, for every start..end pair, the insns in between, then
 * (a second line per region, issue 19) the instruction mix by class and an ESTIMATED Cortex-M4
 * cycle count: QEMU has no timing model, so the cycles come from the table below, not from QEMU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "qemu_plugin_api.h"

static uint64_t total, t_start, start_pc = ~0ull, end_pc = ~0ull;
static unsigned pairs;

/* --- instruction mix and estimated cycles ------------------------------------------------------
 * Cycle table (an estimate): ARM Cortex-M4 Technical Reference Manual r0p1 (DDI 0439B), table 3-1
 * (processor instructions) and table 7-1 (FPU instructions), zero-wait-state memory:
 *   integer ALU, MOV, shifts, compares, IT, ADR, bit-field, CLZ ...  1
 *   LDR/STR (byte, half, word) 2, or 1 when it follows another single load/store in the same
 *     translation block (the TRM's pipelining of neighbouring loads/stores)
 *   LDRD/STRD 3; LDM/STM/PUSH/POP 1 + N (N registers); + P when one loads the PC
 *   MUL, UMULL, SMULL, UMLAL, SMLAL 1; MLA, MLS 2; SDIV/UDIV 2-12: 7 taken ("other")
 *   branches 1 + P when taken, 1 when not: B, BL, BX, BLX, CBZ/CBNZ, TBB/TBH, and a conditional
 *     branch's taken-ness seen at run time (the next block executed); P (pipeline refill, 1-3) = 2
 *   FPU VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCMP, VCVT, VMOV, VMRS/VMSR 1;
 *     VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS 3; VDIV 14; VSQRT 14
 *   VLDR, VSTR 2; VLDM, VSTM, VPUSH, VPOP 1 + N (N words); DSB, ISB 4; anything else 1
 * Not modelled: wait states, the FPU's register-dependency stalls, lazy stacking, interrupts. */
enum { C_LDST, C_ALU, C_MUL, C_BRANCH, C_FPU, C_VDIV, C_VSQRT, C_FPLDST, C_OTHER, N_CLASS };
static const char *const class_name[N_CLASS] = {"ldst", "alu", "mul", "branch", "fpu", "vdiv", "vsqrt",
                                                 "fp_ldst", "other"};
enum { P_REFILL = 2 };
static uint64_t mix[N_CLASS], mix_start[N_CLASS], cycles, cycles_start, taken, taken_start;

/* Registers in a `{r4, r5-r7, pc}` list, counting d registers twice (words moved). */
static unsigned reg_words(const char *d, int *has_pc) {
    const char *p = strchr(d, '{');
    unsigned n = 0;
    *has_pc = 0;
    if (!p) return 1;
    for (p++; *p && *p != '}';) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '}' || !*p) break;
        char kind = *p;
        const char *q = p;
        while (*q && *q != ',' && *q != '}') q++;
        if (!strncmp(p, "pc", 2)) *has_pc = 1;
        const char *dash = memchr(p, '-', (size_t)(q - p));
        unsigned cnt = 1;
        if (dash && (kind == 'r' || kind == 's' || kind == 'd'))
            cnt = (unsigned)(strtoul(dash + 2, NULL, 10) - strtoul(p + 1, NULL, 10) + 1);
        n += kind == 'd' ? 2 * cnt : cnt;
        p = q;
    }
    return n ? n : 1;
}

static int starts(const char *m, const char *prefix) { return !strncmp(m, prefix, strlen(prefix)); }

/* Class and estimated cycles of one instruction from its disassembly (capstone, lower case);
 * *cond_branch = 1 for a conditional branch, whose taken refill is added at run time. */
static int classify(const char *d, int prev_ldst, unsigned *cyc, int *cond_branch) {
    char m[16];
    size_t i = 0;
    while (d[i] && d[i] != ' ' && d[i] != '.' && i < sizeof m - 1) { m[i] = d[i]; i++; }
    m[i] = 0;
    int pc;
    *cond_branch = 0;
    if (m[0] == 'v') {
        if (starts(m, "vdiv")) { *cyc = 14; return C_VDIV; }
        if (starts(m, "vsqrt")) { *cyc = 14; return C_VSQRT; }
        if (!strcmp(m, "vldr") || !strcmp(m, "vstr")) { *cyc = 2; return C_FPLDST; }
        if (starts(m, "vldm") || starts(m, "vstm") || !strcmp(m, "vpush") || !strcmp(m, "vpop")) {
            *cyc = 1 + reg_words(d, &pc); return C_FPLDST;
        }
        if (starts(m, "vmla") || starts(m, "vmls") || starts(m, "vnmla") || starts(m, "vnmls") || starts(m, "vfma") ||
            starts(m, "vfms") || starts(m, "vfnma") || starts(m, "vfnms")) { *cyc = 3; return C_FPU; }
        *cyc = 1; return C_FPU;
    }
    if (starts(m, "ldm") || starts(m, "stm") || !strcmp(m, "push") || !strcmp(m, "pop")) {
        *cyc = 1 + reg_words(d, &pc) + (pc ? P_REFILL : 0); return C_LDST;
    }
    if (starts(m, "ldrd") || starts(m, "strd")) { *cyc = 3; return C_LDST; }
    if (starts(m, "ldr") || starts(m, "str")) {
        *cyc = prev_ldst ? 1 : 2;
        if (starts(m, "ldr") && strstr(d, " pc,")) *cyc += P_REFILL;
        return C_LDST;
    }
    if (!strcmp(m, "mla") || !strcmp(m, "mls")) { *cyc = 2; return C_MUL; }
    if (starts(m, "mul") || !strcmp(m, "umull") || !strcmp(m, "smull") || !strcmp(m, "umlal") ||
        !strcmp(m, "smlal") || starts(m, "smul") || starts(m, "smla")) { *cyc = 1; return C_MUL; }
    if (!strcmp(m, "sdiv") || !strcmp(m, "udiv")) { *cyc = 7; return C_OTHER; }
    if (!strcmp(m, "dsb") || !strcmp(m, "isb") || !strcmp(m, "dmb")) { *cyc = 4; return C_OTHER; }
    if (!strcmp(m, "bkpt") || !strcmp(m, "svc") || !strcmp(m, "wfi") || !strcmp(m, "mrs") || !strcmp(m, "msr") ||
        starts(m, "cps")) { *cyc = 1; return C_OTHER; }
    if (!strcmp(m, "b") || !strcmp(m, "bl") || !strcmp(m, "bx") || !strcmp(m, "blx") || !strcmp(m, "tbb") ||
        !strcmp(m, "tbh")) { *cyc = 1 + P_REFILL; return C_BRANCH; }
    if (!strcmp(m, "cbz") || !strcmp(m, "cbnz") ||
        (m[0] == 'b' && strlen(m) == 3 && strchr("enclmphvgl", m[1]) && !starts(m, "bic") && !starts(m, "bfc") &&
         !starts(m, "bfi"))) {
        *cond_branch = 1; *cyc = 1; return C_BRANCH;
    }
    if ((!strcmp(m, "mov") || !strcmp(m, "add")) && strstr(d, " pc,")) { *cyc = 1 + P_REFILL; return C_BRANCH; }
    *cyc = 1;
    return C_ALU;
}

/* A block ending in a conditional branch leaves its fall-through address here; the next block
 * executed tells whether the branch was taken. */
static uint64_t pending_fallthrough;
struct tb_info { uint64_t pc, fallthrough; };
static void on_tb(unsigned int vcpu, void *u) {
    const struct tb_info *t = u;
    if (pending_fallthrough && t->pc != pending_fallthrough) { cycles += P_REFILL; taken++; }
    pending_fallthrough = t->fallthrough;
}

static void on_start(unsigned int vcpu, void *u) {
    t_start = total;
    memcpy(mix_start, mix, sizeof mix);
    cycles_start = cycles;
    taken_start = taken;
}
static void on_end(unsigned int vcpu, void *u) {
    char buf[512];
    int n;
    unsigned region = pairs++;
    snprintf(buf, sizeof buf, "kcount: region %u: %llu insns\n", region, (unsigned long long)(total - t_start));
    qemu_plugin_outs(buf);
    n = snprintf(buf, sizeof buf, "kcount: region %u mix:", region);
    for (int c = 0; c < N_CLASS; c++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " %s=%llu", class_name[c],
                      (unsigned long long)(mix[c] - mix_start[c]));
    snprintf(buf + n, sizeof buf - (size_t)n, " taken=%llu est_cycles=%llu (estimate: Cortex-M4 TRM table, kcount.c)\n",
             (unsigned long long)(taken - taken_start), (unsigned long long)(cycles - cycles_start));
    qemu_plugin_outs(buf);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct tb_info *info = calloc(1, sizeof *info); /* lives as long as the translation: never freed */
    if (!info) abort();
    info->pc = qemu_plugin_tb_vaddr(tb);
    /* the block's callback first: a taken branch into it is charged before its own insns */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb, QEMU_PLUGIN_CB_NO_REGS, info);
    int prev_ldst = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* marker callbacks first, so the marker insn itself is counted after the snapshot */
        if (pc == start_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == end_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        char *d = qemu_plugin_insn_disas(insn);
        unsigned cyc;
        int cond;
        int c = classify(d ? d : "", prev_ldst, &cyc, &cond);
        free(d);
        prev_ldst = c == C_LDST && cyc <= 2;
        if (cond && i + 1 == n) info->fallthrough = pc + qemu_plugin_insn_size(insn);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &mix[c], 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &cycles, cyc);
    }
}

static void at_exit(qemu_plugin_id_t id, void *u) {
    char buf[96];
    snprintf(buf, sizeof buf, "kcount: total %llu insns\n", (unsigned long long)total);
    qemu_plugin_outs(buf);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "start=", 6)) start_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        if (!strncmp(argv[i], "end=", 4)) end_pc = strtoull(argv[i] + 4, NULL, 0) & ~1ull;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
