// Typed, non-variadic wrappers for the few C APIs Swift cannot call directly.
// No logic lives here.
#ifndef ENTRYPOINT_SHIMS_H
#define ENTRYPOINT_SHIMS_H

#include "build_info.h"
#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>

typedef size_t (*ep_data_callback)(char *_Nonnull ptr, size_t size, size_t nmemb, void *_Nullable userdata);
typedef int (*ep_xferinfo_callback)(void *_Nullable clientp, curl_off_t dltotal, curl_off_t dlnow,
                                    curl_off_t ultotal, curl_off_t ulnow);

CURLcode ep_curl_setopt_long(CURL *_Nonnull curl, CURLoption option, long value);
CURLcode ep_curl_setopt_off(CURL *_Nonnull curl, CURLoption option, curl_off_t value);
CURLcode ep_curl_setopt_ptr(CURL *_Nonnull curl, CURLoption option, const void *_Nullable value);
CURLcode ep_curl_setopt_blob(CURL *_Nonnull curl, CURLoption option, const void *_Nonnull data, size_t len);
CURLcode ep_curl_setopt_data_callback(CURL *_Nonnull curl, CURLoption option, ep_data_callback _Nullable cb);
CURLcode ep_curl_setopt_xferinfo(CURL *_Nonnull curl, ep_xferinfo_callback _Nullable cb);
CURLcode ep_curl_getinfo_long(CURL *_Nonnull curl, CURLINFO info, long *_Nonnull value);

/// Signal bookkeeping for the time before exec (Swift's home for it: Process/Signals.swift).
/// The stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT; shims.c's `stop_signals`, the one list):
/// writes up to `max` of them to `out` and returns how many it wrote.
int ep_stop_signals(int *_Nonnull out, int max);
/// An async-signal-safe handler records the first stop signal; Swift code polls it.
void ep_signals_install(void);
/// Before execve, in this order (docs/design.md, "Signals before exec"): block the four stop
/// signals (sigprocmask; a stop signal arriving later stays pending in the kernel)...
int ep_signals_block_stop(void);
/// ...reset every signal disposition to SIG_DFL, except the four stop signals, which get the
/// recording handler (execve itself resets a caught signal to SIG_DFL; a blocked pending one is kept)...
void ep_signals_reset_dispositions(void);
/// ...and just before the unblock: from now on the handler writes one line and _exits 128+N, so a stop
/// signal between the unblock and execve is acted on even as PID 1 (which would discard it at SIG_DFL).
void ep_signals_arm_exit(void);
/// ...the stop signal now pending while blocked (sigpending), 0 for none, -1 if sigpending failed...
int ep_signals_pending_stop(void);
/// ...and, just before execve, an empty signal mask (the command must inherit none blocked).
int ep_signals_unblock_all(void);
/// The signal received since install, or 0.
int ep_signal_pending(void);
/// For the supervisor, once its signals are blocked: SIGCHLD back to SIG_DFL without SA_NOCLDWAIT
/// (an inherited "ignore" makes the kernel reap the children itself), and every other signal that
/// is inherited as ignored back to SIG_DFL (an ignored signal may be discarded before sigtimedwait),
/// except SIGPIPE, SIGTTIN and SIGTTOU, which the supervisor ignores on purpose. Handlers are kept.
void ep_signals_reset_for_supervision(void);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to this process (the
/// supervisor), also when it is not PID 1. prctl is variadic, so Swift cannot call it.
int ep_set_child_subreaper(void);
/// prctl(PR_SET_PDEATHSIG, sig): the calling process gets `sig` when its parent dies (backup workers).
int ep_set_parent_death_signal(int sig);

/// sync_file_range(SYNC_FILE_RANGE_WRITE): start writeback of a range (behind _GNU_SOURCE).
int ep_sync_file_range_write(int fd, int64_t offset, int64_t count);

/// pipe2(O_CLOEXEC), for the test harness (not exposed by Glibc's Swift overlay).
int ep_pipe_cloexec(int fds[_Nonnull 2]);
/// posix_spawn_file_actions_addclosefrom_np(actions, from), for the test harness (behind _GNU_SOURCE):
/// a spawned test child gets only 0, 1 and 2, whatever other tests have open at that moment.
int ep_spawn_actions_closefrom(posix_spawn_file_actions_t *_Nonnull actions, int from);

/// sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, on, &out) (variadic): the merge applies
/// changes with the app's triggers off (their effects are already in the changes). `db` is a sqlite3*.
/// Returns SQLite's result code; `*out` is the setting afterwards.
int ep_sqlite_enable_triggers(void *_Nonnull db, int on, int *_Nonnull out);

/// The CA bundle embedded at build time (scripts/build-static.sh generates embedded_ca.inc);
/// length 0 when the build had none.
const unsigned char *_Nonnull ep_embedded_ca(size_t *_Nonnull length);
#endif
