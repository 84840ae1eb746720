/*-------------------------------------------------------------------------
 *
 * input.c
 *	  Argument checks shared by the SQL-callable functions.  Bad input
 *	  raises a clear error before anything is read or written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "lockservice.h"

/*
 * Interval to microseconds; a month counts as 30 days, as in interval_cmp.
 * Saturates instead of overflowing, so that a huge interval is simply too
 * long (or negative).
 */
int64
IntervalToMicroseconds(const Interval *span)
{
	int64		days = (int64) span->month * DAYS_PER_MONTH + span->day;
	int64		result;

	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &result) ||
		pg_add_s64_overflow(result, span->time, &result))
		return (days > 0 || (days == 0 && span->time > 0)) ? PG_INT64_MAX : PG_INT64_MIN;
	return result;
}

/* now + usecs, saturating at "infinity" (so does a negative usecs) */
TimestampTz
TimestampPlus(TimestampTz now, int64 usecs)
{
	TimestampTz result;

	if (usecs < 0 || pg_add_s64_overflow(now, usecs, &result) ||
		result >= DT_NOEND)
		return DT_NOEND;
	return result;
}

/* Check a non-empty, length-limited text value and return it. */
static text *
CheckText(text *value, const char *what, int max_length, const char *guc)
{
	int			len = VARSIZE_ANY_EXHDR(value);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (len > max_length)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long (%d bytes)", what, len),
				 errdetail("The maximum is %d bytes.", max_length),
				 errhint("The limit is set by %s.", guc)));
	return value;
}

/* Check a non-empty, length-limited text argument and return it. */
static text *
InputText(FunctionCallInfo fcinfo, int argno, const char *what, int max_length,
		  const char *guc)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return CheckText(PG_GETARG_TEXT_PP(argno), what, max_length, guc);
}

/* A lock name given in an array (detoasted), checked as InputName() does. */
text *
CheckName(text *value, const char *what)
{
	return CheckText(value, what, lockservice_max_name_length,
					 "lockservice.max_name_length");
}

/* A lock name or fenced resource name. */
text *
InputName(FunctionCallInfo fcinfo, int argno, const char *what)
{
	return InputText(fcinfo, argno, what, lockservice_max_name_length,
					 "lockservice.max_name_length");
}

/*
 * A lock name to look up, of any length: a name granted under a higher
 * lockservice.max_name_length stays visible (leases_live looks up the
 * waiters of every live lease).
 */
text *
InputLookupName(FunctionCallInfo fcinfo, int argno)
{
	return InputText(fcinfo, argno, "name", PG_INT32_MAX,
					 "lockservice.max_name_length");
}

/* A holder identity. */
text *
InputHolder(FunctionCallInfo fcinfo, int argno)
{
	return InputText(fcinfo, argno, "holder", lockservice_max_holder_length,
					 "lockservice.max_holder_length");
}

/* A fencing token: positive. */
int64
InputToken(FunctionCallInfo fcinfo, int argno)
{
	int64		token;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("token must not be NULL")));
	token = PG_GETARG_INT64(argno);
	if (token <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token must be positive, not " INT64_FORMAT, token),
				 errhint("Use the token that lockservice.lock_acquire() returned.")));
	return token;
}

/* A session id: positive. */
int64
InputSession(FunctionCallInfo fcinfo, int argno)
{
	int64		session;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("session must not be NULL")));
	session = PG_GETARG_INT64(argno);
	if (session <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session must be positive, not " INT64_FORMAT, session),
				 errhint("Use the id that lockservice.session_open() returned.")));
	return session;
}

/*
 * A lease's time to live in microseconds: above zero and at most
 * lockservice.max_ttl.  Returns -1 for NULL when null_ok.
 */
int64
InputTtl(FunctionCallInfo fcinfo, int argno, bool null_ok)
{
	int64		ttl;

	if (PG_ARGISNULL(argno))
	{
		if (null_ok)
			return -1;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ttl must not be NULL")));
	}
	ttl = IntervalToMicroseconds(PG_GETARG_INTERVAL_P(argno));
	if (ttl <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive")));
	if (ttl > (int64) lockservice_max_ttl * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl is longer than lockservice.max_ttl (%d seconds)",
						lockservice_max_ttl),
				 errhint("Renew a shorter lease instead, or raise lockservice.max_ttl.")));
	return ttl;
}

/* How long to wait, in microseconds; -1 for NULL (no limit). */
int64
InputWait(FunctionCallInfo fcinfo, int argno)
{
	int64		wait;

	if (PG_ARGISNULL(argno))
		return -1;
	wait = IntervalToMicroseconds(PG_GETARG_INTERVAL_P(argno));
	if (wait < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must not be negative"),
				 errhint("Use '0' not to wait, or NULL to wait without limit.")));
	return wait;
}

/* Refuse to write on a hot standby or in a read-only transaction. */
void
CheckWritable(const char *funcname)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s during recovery", funcname),
				 errhint("Leases live on the primary: connect to it (with libpq, target_session_attrs=read-write).")));
	PreventCommandIfReadOnly(funcname);
}
