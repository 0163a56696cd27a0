/* Per-instruction profile of ONE counted region of src/bin/insn_count.rs (issue 19): a QEMU TCG
 * plugin, like kcount.c (same declarations, same marker functions), that counts how often each
 * guest instruction executes between the N-th crabmix_mark_start/crabmix_mark_end pair and writes
 * "pc count" lines (hex pc) to $KPROF_OUT (default kprof.txt) at exit; read them against `llvm-objdump -d`. It is how
 * the online update's costs in firmware/README.md were found. Not part of run-tests.sh.
 *   gcc -O2 -shared -fPIC -o target/libkprof.so tools/kprof.c
 *   qemu-system-arm -machine mps2-an386 -nographic -monitor none -serial none \
 *     -semihosting-config enable=on,target=native \
 *     -plugin target/libkprof.so,start=0x<crabmix_mark_start>,end=0x<crabmix_mark_end>,region=2 \
 *     -kernel target/thumbv7em-none-eabihf/release/insn-count >/dev/null
 * (region 2 = online_update K=2 D=2 full, in the order of golden/insns.txt; the marker addresses
 * from `readelf -sW`, as tools/qemu-run.sh finds them). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "qemu_plugin_api.h"

/* Thumb code, 2-byte aligned, in the first 2 MiB (mps2-an386's flash): one counter per halfword. */
#define N_PC (1u << 20)
static uint64_t start_pc = ~0ull, end_pc = ~0ull, counts[N_PC];
static int wanted = -1, inside, pairs;

static void on_start(unsigned int vcpu, void *u) { inside = pairs == wanted; }
static void on_end(unsigned int vcpu, void *u) { inside = 0; pairs++; }
static void on_insn(unsigned int vcpu, void *u) {
    if (inside) counts[((uintptr_t)u >> 1) & (N_PC - 1)]++;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == start_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == end_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)pc);
    }
}

static void at_exit(qemu_plugin_id_t id, void *u) {
    const char *path = getenv("KPROF_OUT");
    FILE *f = fopen(path ? path : "kprof.txt", "w");
    if (!f) return;
    for (unsigned i = 0; i < N_PC; i++)
        if (counts[i]) fprintf(f, "%x %llu\n", i * 2, (unsigned long long)counts[i]);
    fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "start=", 6)) start_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        if (!strncmp(argv[i], "end=", 4)) end_pc = strtoull(argv[i] + 4, NULL, 0) & ~1ull;
        if (!strncmp(argv[i], "region=", 7)) wanted = atoi(argv[i] + 7);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
