#define _GNU_SOURCE
#include "shims.h"
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sqlite3.h>

CURLcode ep_curl_setopt_long(CURL *curl, CURLoption option, long value) { return curl_easy_setopt(curl, option, value); }
CURLcode ep_curl_setopt_off(CURL *curl, CURLoption option, curl_off_t value) { return curl_easy_setopt(curl, option, value); }
CURLcode ep_curl_setopt_ptr(CURL *curl, CURLoption option, const void *value) { return curl_easy_setopt(curl, option, value); }
CURLcode ep_curl_setopt_blob(CURL *curl, CURLoption option, const void *data, size_t len) {
    struct curl_blob blob = {(void *)data, len, CURL_BLOB_COPY};
    return curl_easy_setopt(curl, option, &blob);
}
CURLcode ep_curl_setopt_data_callback(CURL *curl, CURLoption option, ep_data_callback cb) { return curl_easy_setopt(curl, option, cb); }
CURLcode ep_curl_setopt_xferinfo(CURL *curl, ep_xferinfo_callback cb) { return curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, cb); }
CURLcode ep_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) { return curl_easy_getinfo(curl, info, value); }

static volatile sig_atomic_t pending_signal = 0;
static volatile sig_atomic_t exit_on_stop = 0;

// The stop signals, the one list of them: the install, the block, the reset before exec, the
// pending check and Swift's `Signals.stop` (through ep_stop_signals) all iterate it. Each has the
// line the armed handler writes (a string literal: the handler may not format).
static const struct {
    int sig;
    const char *exit_line;
} stop_signals[] = {
    {SIGTERM, "entrypoint: error: stopped by SIGTERM just before the command was started\n"},
    {SIGINT, "entrypoint: error: stopped by SIGINT just before the command was started\n"},
    {SIGHUP, "entrypoint: error: stopped by SIGHUP just before the command was started\n"},
    {SIGQUIT, "entrypoint: error: stopped by SIGQUIT just before the command was started\n"},
};
#define STOP_SIGNAL_COUNT (int)(sizeof stop_signals / sizeof stop_signals[0])

static int stop_index(int sig) {
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) {
        if (stop_signals[i].sig == sig) return i;
    }
    return -1;
}

static void stop_set(sigset_t *set) {
    sigemptyset(set);
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) sigaddset(set, stop_signals[i].sig);
}

int ep_stop_signals(int *out, int max) {
    int n = 0;
    for (; n < STOP_SIGNAL_COUNT && n < max; n++) out[n] = stop_signals[n].sig;
    return n;
}

static void on_signal(int sig) {
    if (exit_on_stop) {
        // Between the unblock and execve: act now, as the default action would, also as PID 1 (where
        // the kernel discards a signal whose action is the default). Async-signal-safe: write, _exit.
        int i = stop_index(sig);
        const char *line = i >= 0 ? stop_signals[i].exit_line : "entrypoint: error: stopped by a signal just before the command was started\n";
        // Best effort: the exit status says it too.
        if (write(2, line, strlen(line)) < 0) _exit(128 + sig);
        _exit(128 + sig);
    }
    if (pending_signal == 0) pending_signal = sig;
}

void ep_signals_arm_exit(void) { exit_on_stop = 1; }

static void recording_handler(struct sigaction *sa) {
    memset(sa, 0, sizeof *sa);
    sa->sa_handler = on_signal;
    // No SA_RESTART: a blocking call returns EINTR so the caller notices promptly.
    sigemptyset(&sa->sa_mask);
}

void ep_signals_install(void) {
    struct sigaction sa;
    recording_handler(&sa);
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) sigaction(stop_signals[i].sig, &sa, NULL);
    // A dropped TLS connection must be an error, not a process-killing SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
}

int ep_signals_block_stop(void) {
    sigset_t set;
    stop_set(&set);
    return sigprocmask(SIG_BLOCK, &set, NULL);
}

void ep_signals_reset_dispositions(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    struct sigaction stop;
    recording_handler(&stop);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        // The stop signals keep (or get) the recording handler: execve resets a caught signal to
        // SIG_DFL by itself, and until then the handler acts on it (ep_signals_arm_exit).
        if (stop_index(sig) >= 0) {
            if (sigaction(sig, &stop, NULL) == 0) continue;
        }
        if (sigaction(sig, &sa, NULL) != 0) {
            // glibc refuses its reserved real-time signals (32, 33); an inherited "ignored" on them
            // would still survive execve, so reset them with the raw system call.
            struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } k = {0};
            syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
        }
    }
}

int ep_signals_pending_stop(void) {
    sigset_t pending;
    if (sigpending(&pending) != 0) return -1;
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) {
        if (sigismember(&pending, stop_signals[i].sig) == 1) return stop_signals[i].sig;
    }
    return 0;
}

int ep_signals_unblock_all(void) {
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

int ep_signal_pending(void) { return pending_signal; }

void ep_signals_reset_for_supervision(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGPIPE || sig == SIGTTIN || sig == SIGTTOU) continue;
        struct sigaction old;
        if (sigaction(sig, NULL, &old) != 0) continue;  // glibc's reserved real-time signals
        if (sig == SIGCHLD || old.sa_handler == SIG_IGN) sigaction(sig, &dfl, NULL);
    }
}

int ep_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L); }
int ep_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0L, 0L, 0L); }

int ep_pipe_cloexec(int fds[_Nonnull 2]) { return pipe2(fds, O_CLOEXEC); }

int ep_spawn_actions_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int ep_sync_file_range_write(int fd, int64_t offset, int64_t count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE);
}

int ep_sqlite_enable_triggers(void *db, int on, int *out) {
    return sqlite3_db_config((sqlite3 *)db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on, out);
}
