/* The C peers' harness (startup.c): output and exit through semihosting, region markers. */
void peer_puts(const char *s);
void peer_exit(int ok) __attribute__((noreturn));
void peer_mark_start(void);
void peer_mark_end(void);
