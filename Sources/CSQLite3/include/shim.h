#ifndef SCOPEPILOT_CSQLITE3_SHIM_H
#define SCOPEPILOT_CSQLITE3_SHIM_H
// SQLite3 from Debian's libsqlite3-dev.
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import.
static inline sqlite3_destructor_type scopepilot_sqlite_transient(void) { return SQLITE_TRANSIENT; }
#endif
