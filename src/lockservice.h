/*-------------------------------------------------------------------------
 *
 * lockservice.h
 *	  Declarations shared by every part of lockservice: GUCs, SQLSTATEs,
 *	  input checks and the table layout.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKSERVICE_H
#define LOCKSERVICE_H

#include "postgres.h"

#include "compat.h"
#include "datatype/timestamp.h"
#include "storage/block.h"
#include "utils/timestamp.h"

/* lockservice's own error conditions (class LS) */
#define ERRCODE_LS_STALE_TOKEN			MAKE_SQLSTATE('L','S','0','0','1')
#define ERRCODE_LS_TOKEN_NOT_ISSUED		MAKE_SQLSTATE('L','S','0','0','2')
#define ERRCODE_LS_PREPARE_REFUSED		MAKE_SQLSTATE('L','S','0','0','3')
#define ERRCODE_LS_KIND_MISMATCH		MAKE_SQLSTATE('L','S','0','0','4')
#define ERRCODE_LS_NOT_EXCLUSIVE		MAKE_SQLSTATE('L','S','0','0','5')
#define ERRCODE_LS_SESSION_NOT_OPEN		MAKE_SQLSTATE('L','S','0','0','6')
#define ERRCODE_LS_KEPT_BY_SESSION		MAKE_SQLSTATE('L','S','0','0','7')

/* schema and objects created by sql/lockservice--1.0.sql */
#define LOCKSERVICE_SCHEMA		"lockservice"
#define LEASES_TABLE			"leases"
#define LEASES_PKEY				"leases_pkey"
#define FENCES_TABLE			"fences"
#define FENCES_PKEY				"fences_pkey"
#define FENCING_SEQUENCE		"fencing_seq"
#define FENCING_TIMELINE_SEQUENCE "fencing_timeline"
#define FENCING_ERA_SEQUENCE	"fencing_era"
#define LOCK_OPTIONS_TABLE		"lock_options"
#define LOCK_OPTIONS_PKEY		"lock_options_pkey"
#define HISTORY_TABLE			"history"
#define HISTORY_AT_INDEX		"history_at_idx"
#define SESSIONS_TABLE			"sessions"
#define SESSIONS_PKEY			"sessions_pkey"
#define LEASES_SESSION_INDEX	"leases_session_idx"

/* columns of lockservice.leases */
#define Anum_leases_name		1
#define Anum_leases_slot		2
#define Anum_leases_kind		3
#define Anum_leases_holder		4
#define Anum_leases_owner		5
#define Anum_leases_token		6
#define Anum_leases_ttl			7
#define Anum_leases_granted_at	8
#define Anum_leases_expires_at	9
#define Anum_leases_released_at 10
#define Anum_leases_permits		11
#define Anum_leases_session		12	/* from 1.5 on */
#define Natts_leases			12
#define Natts_leases_1_4		11	/* before sessions */

/* columns of lockservice.sessions (1.5) */
#define Anum_sessions_id		1
#define Anum_sessions_holder	2
#define Anum_sessions_owner		3
#define Anum_sessions_ttl		4
#define Anum_sessions_opened_at 5
#define Anum_sessions_expires_at 6
#define Natts_sessions			6

/* columns of lockservice.lock_options */
#define Anum_lock_options_name	1
#define Anum_lock_options_lock_delay 2
#define Natts_lock_options		2

/* columns of lockservice.history */
#define Anum_history_at			1
#define Anum_history_event		2
#define Anum_history_name		3
#define Anum_history_kind		4
#define Anum_history_holder		5
#define Anum_history_owner		6
#define Anum_history_token		7
#define Anum_history_actor		8
#define Natts_history			8

/* columns of lockservice.fences */
#define Anum_fences_resource	1
#define Anum_fences_token		2
#define Anum_fences_fenced_at	3
#define Natts_fences			3

/* lease kinds (leases.kind) */
#define LEASE_KIND_EXCLUSIVE	'x'
#define LEASE_KIND_SHARED		's'
#define LEASE_KIND_PERMIT		'p'

/* GUCs (src/lockservice.c) */
extern int	lockservice_max_ttl;
extern int	lockservice_max_name_length;
extern int	lockservice_max_holder_length;
extern int	lockservice_wait_slots;
extern bool lockservice_sync_grants;

/* input checks (src/input.c) */
extern void ErrorExtensionDropped(const char *relname);
extern int64 IntervalToMicroseconds(const Interval *span);
extern TimestampTz TimestampPlus(TimestampTz now, int64 usecs);
extern text *InputName(FunctionCallInfo fcinfo, int argno, const char *what);
extern text *CheckName(text *value, const char *what);
extern text *InputLookupName(FunctionCallInfo fcinfo, int argno);
extern text *InputHolder(FunctionCallInfo fcinfo, int argno);
extern int64 InputToken(FunctionCallInfo fcinfo, int argno);
extern int64 InputTtl(FunctionCallInfo fcinfo, int argno, bool null_ok);
extern int64 InputWait(FunctionCallInfo fcinfo, int argno);
extern int64 InputSession(FunctionCallInfo fcinfo, int argno);
extern void CheckWritable(const char *funcname);

#endif							/* LOCKSERVICE_H */
