/* The session extension (sqlite3session_diff, changeset iteration and apply) is in Debian's
   libsqlite3 but declared only behind these macros (docs/design.md, "The merge"). */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
