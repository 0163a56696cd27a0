/* Bare-metal start for the C peers on QEMU mps2-an386: vector table, FPU on, .bss zeroed,
 * main(), then the exit status through semihosting (QEMU: -semihosting-config enable=on). */
#include <stdint.h>
#include "peer.h"

extern uint32_t __bss_start__, __bss_end__, __stack_top;
int main(void);

/* Semihosting call: BKPT 0xAB, operation in r0, argument in r1 (ARM semihosting spec). */
static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void peer_puts(const char *s) { semihost(0x04 /* SYS_WRITE0 */, s); }

__attribute__((noreturn)) void peer_exit(int ok) {
    /* ADP_Stopped_ApplicationExit: QEMU exits 0; RunTimeErrorUnknown: exits 1. */
    semihost(0x18 /* SYS_EXIT */, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20023));
    for (;;) {}
}

__attribute__((noreturn)) void peer_reset(void) {
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10, CP11 full access */
    __asm__ volatile("dsb\n isb");
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    peer_exit(main() == 0);
}

static void fault(void) { peer_puts("peer: fault\n"); peer_exit(0); }

/* Region markers: the TCG plugin (tools/kcount.c) snapshots its counters at their addresses. */
__attribute__((noinline)) void peer_mark_start(void) { __asm__ volatile(""); }
__attribute__((noinline)) void peer_mark_end(void) { __asm__ volatile(""); }

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, peer_reset, fault, fault, fault, fault, fault,
};
