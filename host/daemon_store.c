// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmi/err.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_BUSY_TIMEOUT_MS 5000

struct rw_store {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static const char *const severity_names[RW_SEV_COUNT] = { "info", "warning", "alert", "error" };

const char *rw_severity_name(enum rw_severity s)
{
	return (unsigned)s < RW_SEV_COUNT ? severity_names[s] : "?";
}

int rw_severity_parse(const char *name, enum rw_severity *out)
{
	for (unsigned i = 0; i < RW_SEV_COUNT; i++) {
		if (!strcmp(name, severity_names[i])) {
			*out = (enum rw_severity)i;
			return 0;
		}
	}
	return -1;
}

int64_t rw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The message into err (vmi/err.h); the caller returns its own code. */
#define set_err(err, errlen, ...) ((void)vmi_seterr(err, errlen, 0, __VA_ARGS__))

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS vms ("
	" name TEXT PRIMARY KEY, kind TEXT NOT NULL, qmp TEXT NOT NULL, mem TEXT NOT NULL,"
	" kernel TEXT NOT NULL, kernel_version TEXT NOT NULL, state TEXT NOT NULL,"
	" interval_ms INTEGER NOT NULL, paused_by_us INTEGER NOT NULL, run_dir TEXT NOT NULL,"
	" pid INTEGER NOT NULL, added_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, time_ms INTEGER NOT NULL,"
	" source TEXT NOT NULL, check_name TEXT NOT NULL, severity TEXT NOT NULL,"
	" detail TEXT NOT NULL, ack_ms INTEGER);"
	"CREATE INDEX IF NOT EXISTS events_vm_time ON events(vm, time_ms);"
	"CREATE INDEX IF NOT EXISTS events_open ON events(vm, severity, ack_ms);"
	"CREATE TABLE IF NOT EXISTS check_status ("
	" vm TEXT NOT NULL, check_name TEXT NOT NULL, result TEXT NOT NULL,"
	" source TEXT NOT NULL, summary TEXT NOT NULL, time_ms INTEGER NOT NULL,"
	" PRIMARY KEY (vm, check_name));"
	"CREATE TABLE IF NOT EXISTS channel_streams ("
	" vm TEXT NOT NULL, component TEXT NOT NULL, session TEXT NOT NULL,"
	" hwm INTEGER NOT NULL, time_ms INTEGER NOT NULL, PRIMARY KEY (vm, component, session));"
	"CREATE TABLE IF NOT EXISTS channel_state ("
	" vm TEXT NOT NULL, component TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
	" seq INTEGER NOT NULL, count INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
	" detail TEXT NOT NULL, PRIMARY KEY (vm, component, kind, key));";

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		set_err(err, errlen, "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int check_schema_version(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version == 0)
		return exec_sql(db, "PRAGMA user_version = 1", err, errlen);
	if (version != STORE_SCHEMA_VERSION) {
		set_err(err, errlen, "database schema version %d, this ringwatchd knows %d",
			version, STORE_SCHEMA_VERSION);
		return -1;
	}
	return 0;
fail:
	set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
	return -1;
}

/* WAL must really be on: journal_mode answers with the mode in effect. */
static int enable_wal(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int ok = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK) {
		set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		ok = !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	if (!ok) {
		set_err(err, errlen, "sqlite: cannot switch the database to WAL mode");
		return -1;
	}
	return exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err, errlen);
}

int rw_store_open(const char *dir, struct rw_store **out, char *err, size_t errlen)
{
	char path[1024];
	struct rw_store *st;

	if ((size_t)snprintf(path, sizeof(path), "%s/ringwatch.db", dir) >= sizeof(path)) {
		set_err(err, errlen, "state directory path too long");
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		set_err(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) :
			"cannot open");
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (enable_wal(st->db, err, errlen) || exec_sql(st->db, schema, err, errlen) ||
	    check_schema_version(st->db, err, errlen)) {
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	pthread_mutex_init(&st->lock, NULL);
	*out = st;
	return 0;
}

void rw_store_close(struct rw_store *st)
{
	if (!st)
		return;
	/* Fold the WAL into the main file so the directory holds one clean db. */
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static sqlite3_stmt *prepare(struct rw_store *st, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
		return NULL;
	}
	return s;
}

/* Step a statement that returns no rows; 0 or -1. */
static int step_done(struct rw_store *st, sqlite3_stmt *s, char *err, size_t errlen)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static char *detail_text(json_t *detail)
{
	char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (detail && (!text || strlen(text) > RW_STORE_MAX_DETAIL)) {
		free(text);
		text = strdup("{\"note\":\"detail too large, dropped\"}");
	}
	return text ? text : strdup("{}");
}

int64_t rw_store_append_event(struct rw_store *st, const char *vm, const char *source,
			      const char *check, enum rw_severity sev, json_t *detail,
			      int64_t *time_ms_out, char *err, size_t errlen)
{
	char *text = detail_text(detail);
	int64_t now = rw_now_ms(), id = -1;
	sqlite3_stmt *s;

	if (!text) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&st->lock);
	s = prepare(st, "INSERT INTO events(vm, time_ms, source, check_name, severity, detail)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		sqlite3_bind_text(s, 3, source, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, check, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, rw_severity_name(sev), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, text, -1, SQLITE_STATIC);
		/* Autocommit: sqlite3_step returns after the WAL commit is fsynced. */
		if (step_done(st, s, err, errlen) == 0)
			id = sqlite3_last_insert_rowid(st->db);
	}
	pthread_mutex_unlock(&st->lock);
	free(text);
	if (id > 0 && time_ms_out)
		*time_ms_out = now;
	return id;
}

static json_t *event_row(sqlite3_stmt *s)
{
	json_error_t jerr;
	const char *text = (const char *)sqlite3_column_text(s, 6);
	json_t *detail = text ? json_loads(text, 0, &jerr) : NULL;

	return json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:o,s:b}",
			 "id", (json_int_t)sqlite3_column_int64(s, 0),
			 "vm", (const char *)sqlite3_column_text(s, 1),
			 "time_ms", (json_int_t)sqlite3_column_int64(s, 2),
			 "source", (const char *)sqlite3_column_text(s, 3),
			 "check", (const char *)sqlite3_column_text(s, 4),
			 "severity", (const char *)sqlite3_column_text(s, 5),
			 "detail", detail ? detail : json_object(),
			 "acked", sqlite3_column_type(s, 7) != SQLITE_NULL);
}

int rw_store_events(struct rw_store *st, const struct rw_event_query *q, json_t **out,
		    char *err, size_t errlen)
{
	/* Newest @limit rows that match, returned oldest first. */
	static const char sql[] =
		"SELECT * FROM (SELECT id, vm, time_ms, source, check_name, severity, detail,"
		" ack_ms FROM events WHERE (?1 IS NULL OR vm = ?1) AND time_ms >= ?2"
		" AND id > ?3 ORDER BY id DESC LIMIT ?4) ORDER BY id";
	json_t *arr = json_array();
	sqlite3_stmt *s;
	int rc;

	if (!arr) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&st->lock);
	s = prepare(st, sql, err, errlen);
	if (!s) {
		pthread_mutex_unlock(&st->lock);
		json_decref(arr);
		return -1;
	}
	if (q->vm)
		sqlite3_bind_text(s, 1, q->vm, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, q->since_ms);
	sqlite3_bind_int64(s, 3, q->after_id);
	sqlite3_bind_int64(s, 4, q->limit ? q->limit : 1000);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, event_row(s));
	if (rc != SQLITE_DONE)
		set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return -1;
	}
	*out = arr;
	return 0;
}

/* One integer from a single-row query with an optional text parameter. */
static int64_t query_int(struct rw_store *st, const char *sql, const char *param)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	pthread_mutex_lock(&st->lock);
	s = prepare(st, sql, NULL, 0);
	if (s) {
		if (param)
			sqlite3_bind_text(s, 1, param, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 1);
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return v;
}

int64_t rw_store_last_event_id(struct rw_store *st)
{
	return query_int(st, "SELECT COALESCE(MAX(id), 0) FROM events WHERE ?1 IS NULL", NULL);
}

int64_t rw_store_open_alerts(struct rw_store *st, const char *vm)
{
	return query_int(st, "SELECT COUNT(*) FROM events WHERE (?1 IS NULL OR vm = ?1)"
			 " AND severity = 'alert' AND ack_ms IS NULL", vm);
}

int64_t rw_store_ack(struct rw_store *st, const char *vm, int64_t id, char *err,
		     size_t errlen)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	pthread_mutex_lock(&st->lock);
	s = prepare(st, "UPDATE events SET ack_ms = ?1 WHERE vm = ?2 AND severity = 'alert'"
		    " AND ack_ms IS NULL AND (?3 = 0 OR id = ?3)", err, errlen);
	if (s) {
		sqlite3_bind_int64(s, 1, rw_now_ms());
		sqlite3_bind_text(s, 2, vm, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, id);
		if (step_done(st, s, err, errlen) == 0)
			n = sqlite3_changes(st->db);
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

int rw_store_vm_put(struct rw_store *st, const struct rw_store_vm *vm, char *err,
		    size_t errlen)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	s = prepare(st, "INSERT OR REPLACE INTO vms(name, kind, qmp, mem, kernel, kernel_version,"
		    " state, interval_ms, paused_by_us, run_dir, pid, added_ms, changed_ms)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
		    err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, vm->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, vm->qmp, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, vm->mem, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, vm->kernel, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, vm->kernel_version, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 7, vm->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 8, vm->interval_ms);
		sqlite3_bind_int(s, 9, vm->paused_by_us);
		sqlite3_bind_text(s, 10, vm->run_dir, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 11, vm->pid);
		sqlite3_bind_int64(s, 12, vm->added_ms);
		sqlite3_bind_int64(s, 13, vm->changed_ms);
		rc = step_done(st, s, err, errlen);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int rw_store_vm_delete(struct rw_store *st, const char *name, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	if (exec_sql(st->db, "BEGIN IMMEDIATE", err, errlen) == 0) {
		s = prepare(st, "DELETE FROM vms WHERE name = ?1", err, errlen);
		if (s) {
			sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
			rc = step_done(st, s, err, errlen);
		}
		s = rc ? NULL : prepare(st, "DELETE FROM check_status WHERE vm = ?1", err, errlen);
		if (s) {
			sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
			rc = step_done(st, s, err, errlen);
		} else {
			rc = -1;
		}
		if (exec_sql(st->db, rc ? "ROLLBACK" : "COMMIT", err, errlen))
			rc = -1;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void copy_col(char *dst, size_t dstlen, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	snprintf(dst, dstlen, "%s", v ? v : "");
}

static void vm_row(sqlite3_stmt *s, struct rw_store_vm *v)
{
	memset(v, 0, sizeof(*v));
	copy_col(v->name, sizeof(v->name), s, 0);
	copy_col(v->kind, sizeof(v->kind), s, 1);
	copy_col(v->qmp, sizeof(v->qmp), s, 2);
	copy_col(v->mem, sizeof(v->mem), s, 3);
	copy_col(v->kernel, sizeof(v->kernel), s, 4);
	copy_col(v->kernel_version, sizeof(v->kernel_version), s, 5);
	copy_col(v->state, sizeof(v->state), s, 6);
	v->interval_ms = (unsigned int)sqlite3_column_int64(s, 7);
	v->paused_by_us = sqlite3_column_int(s, 8) != 0;
	copy_col(v->run_dir, sizeof(v->run_dir), s, 9);
	v->pid = sqlite3_column_int64(s, 10);
	v->added_ms = sqlite3_column_int64(s, 11);
	v->changed_ms = sqlite3_column_int64(s, 12);
}

/* Run a row query and collect rows of @size bytes through @fill. */
static int collect_rows(struct rw_store *st, const char *sql, const char *param, size_t size,
			void (*fill)(sqlite3_stmt *, void *), void **out, size_t *n,
			char *err, size_t errlen)
{
	sqlite3_stmt *s;
	char *rows = NULL;
	size_t count = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&st->lock);
	s = prepare(st, sql, err, errlen);
	if (!s) {
		pthread_mutex_unlock(&st->lock);
		return -1;
	}
	if (param)
		sqlite3_bind_text(s, 1, param, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char *nrows = realloc(rows, ncap * size);

			if (!nrows) {
				rc = SQLITE_NOMEM;
				break;
			}
			rows = nrows;
			cap = ncap;
		}
		fill(s, rows + count * size);
		count++;
	}
	if (rc != SQLITE_DONE)
		set_err(err, errlen, "sqlite: %s", rc == SQLITE_NOMEM ? "out of memory" :
			sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != SQLITE_DONE) {
		free(rows);
		return -1;
	}
	*out = rows;
	*n = count;
	return 0;
}

static void fill_vm(sqlite3_stmt *s, void *row)
{
	vm_row(s, row);
}

int rw_store_vm_list(struct rw_store *st, struct rw_store_vm **out, size_t *n, char *err,
		     size_t errlen)
{
	return collect_rows(st, "SELECT name, kind, qmp, mem, kernel, kernel_version, state,"
			    " interval_ms, paused_by_us, run_dir, pid, added_ms, changed_ms"
			    " FROM vms ORDER BY name", NULL, sizeof(**out), fill_vm,
			    (void **)out, n, err, errlen);
}

int rw_store_check_put(struct rw_store *st, const char *vm, const struct rw_store_check *c,
		       char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = -1;

	pthread_mutex_lock(&st->lock);
	s = prepare(st, "INSERT OR REPLACE INTO check_status(vm, check_name, result, source,"
		    " summary, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, c->check, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, c->result, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, c->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, c->summary, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, c->time_ms);
		rc = step_done(st, s, err, errlen);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void fill_check(sqlite3_stmt *s, void *row)
{
	struct rw_store_check *c = row;

	memset(c, 0, sizeof(*c));
	copy_col(c->check, sizeof(c->check), s, 0);
	copy_col(c->result, sizeof(c->result), s, 1);
	copy_col(c->source, sizeof(c->source), s, 2);
	copy_col(c->summary, sizeof(c->summary), s, 3);
	c->time_ms = sqlite3_column_int64(s, 4);
}

int rw_store_check_list(struct rw_store *st, const char *vm, struct rw_store_check **out,
			size_t *n, char *err, size_t errlen)
{
	return collect_rows(st, "SELECT check_name, result, source, summary, time_ms"
			    " FROM check_status WHERE vm = ?1 ORDER BY check_name", vm,
			    sizeof(**out), fill_check, (void **)out, n, err, errlen);
}

/* --- guest channel ------------------------------------------------------------ */

int rw_store_channel_mark(struct rw_store *st, const char *vm, const char *component,
			  const char *session, uint64_t *hwm, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = -1;

	*hwm = 0;
	pthread_mutex_lock(&st->lock);
	s = prepare(st, "SELECT hwm FROM channel_streams WHERE vm = ?1 AND component = ?2"
		    " AND session = ?3", err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, component, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, session, -1, SQLITE_STATIC);
		switch (sqlite3_step(s)) {
		case SQLITE_ROW:
			*hwm = (uint64_t)sqlite3_column_int64(s, 0);
			rc = 0;
			break;
		case SQLITE_DONE:
			rc = 0;
			break;
		default:
			set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
		}
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int chan_insert_event(struct rw_store *st, const char *vm, const char *component,
			     int64_t now, struct rw_store_chan_event *e, char *err, size_t errlen)
{
	char *text = detail_text(e->detail);
	sqlite3_stmt *s;
	int rc = -1;

	if (!text) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	s = prepare(st, "INSERT INTO events(vm, time_ms, source, check_name, severity, detail)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		sqlite3_bind_text(s, 3, component, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, e->check, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, rw_severity_name(e->sev), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, text, -1, SQLITE_STATIC);
		if (step_done(st, s, err, errlen) == 0) {
			e->id = sqlite3_last_insert_rowid(st->db);
			e->time_ms = now;
			rc = 0;
		}
	}
	free(text);
	return rc;
}

static int chan_upsert_state(struct rw_store *st, const char *vm, const char *component,
			     int64_t now, const struct rw_store_chan_state *c, char *err,
			     size_t errlen)
{
	char *text = detail_text(c->detail);
	sqlite3_stmt *s;
	int rc = -1;

	if (!text) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	s = prepare(st, "INSERT INTO channel_state(vm, component, kind, key, seq, count, time_ms,"
		    " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		    " ON CONFLICT(vm, component, kind, key) DO UPDATE SET seq = excluded.seq,"
		    " count = channel_state.count + excluded.count, time_ms = excluded.time_ms,"
		    " detail = excluded.detail", err, errlen);
	if (s) {
		sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, component, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, c->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, c->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, (int64_t)c->seq);
		sqlite3_bind_int64(s, 6, (int64_t)c->count);
		sqlite3_bind_int64(s, 7, now);
		sqlite3_bind_text(s, 8, text, -1, SQLITE_STATIC);
		rc = step_done(st, s, err, errlen);
	}
	free(text);
	return rc;
}

int rw_store_channel_commit(struct rw_store *st, const char *vm, const char *component,
			    const char *session, uint64_t hwm, struct rw_store_chan_event *ev,
			    size_t nev, const struct rw_store_chan_state *states, size_t nst,
			    char *err, size_t errlen)
{
	int64_t now = rw_now_ms();
	sqlite3_stmt *s;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = exec_sql(st->db, "BEGIN IMMEDIATE", err, errlen);
	for (size_t i = 0; rc == 0 && i < nev; i++)
		rc = chan_insert_event(st, vm, component, now, &ev[i], err, errlen);
	for (size_t i = 0; rc == 0 && i < nst; i++)
		rc = chan_upsert_state(st, vm, component, now, &states[i], err, errlen);
	if (rc == 0) {
		s = prepare(st, "INSERT OR REPLACE INTO channel_streams(vm, component, session, hwm,"
			    " time_ms) VALUES (?1, ?2, ?3, ?4, ?5)", err, errlen);
		rc = -1;
		if (s) {
			sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, component, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 3, session, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 4, (int64_t)hwm);
			sqlite3_bind_int64(s, 5, now);
			rc = step_done(st, s, err, errlen);
		}
	}
	/* COMMIT returns after the WAL is fsynced (synchronous=FULL). */
	if (rc == 0 && exec_sql(st->db, "COMMIT", err, errlen))
		rc = -1;
	if (rc)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int rw_store_channel_states(struct rw_store *st, const char *vm, json_t **out, char *err,
			    size_t errlen)
{
	json_t *arr = json_array();
	sqlite3_stmt *s;
	int rc;

	if (!arr) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&st->lock);
	s = prepare(st, "SELECT component, kind, key, seq, count, time_ms, detail FROM channel_state"
		    " WHERE vm = ?1 ORDER BY component, kind, key", err, errlen);
	if (!s) {
		pthread_mutex_unlock(&st->lock);
		json_decref(arr);
		return -1;
	}
	sqlite3_bind_text(s, 1, vm, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_error_t jerr;
		const char *text = (const char *)sqlite3_column_text(s, 6);
		json_t *detail = text ? json_loads(text, 0, &jerr) : NULL;

		json_array_append_new(arr, json_pack(
			"{s:s,s:s,s:s,s:I,s:I,s:I,s:o}",
			"component", (const char *)sqlite3_column_text(s, 0),
			"kind", (const char *)sqlite3_column_text(s, 1),
			"key", (const char *)sqlite3_column_text(s, 2),
			"seq", (json_int_t)sqlite3_column_int64(s, 3),
			"count", (json_int_t)sqlite3_column_int64(s, 4),
			"time_ms", (json_int_t)sqlite3_column_int64(s, 5),
			"detail", detail ? detail : json_object()));
	}
	if (rc != SQLITE_DONE)
		set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return -1;
	}
	*out = arr;
	return 0;
}
