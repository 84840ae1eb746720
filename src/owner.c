/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  The type of lease owners, lockservice.lease_owner: a role's OID on
 *	  disk, the role's name everywhere outside.
 *
 * Inside a cluster a lease belongs to a role's OID, which stays with the
 * role through renames and through pg_upgrade.  Between clusters only the
 * name means the same role: pg_dump writes the owner's name, as it does for
 * the owners of every other object, and a restore looks the name up in the
 * cluster it restores into.  A name that no role has there, the owner of a
 * dropped role, and a bare number (a dump of version 1.2, which stored
 * OIDs) all come back as no owner ("-"): a lease without owner cannot be
 * renewed, released or checked by any role and ends at its expiry (or by
 * force_release).  A restored lease is never another role's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

/* how a lease owner with no role is written */
#define NO_OWNER	"-"

/* The name of the role whose OID is owner, or NULL when there is none. */
static char *
OwnerRoleName(Oid owner)
{
	HeapTuple	tuple;
	char	   *name;

	if (!OidIsValid(owner))
		return NULL;
	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	name = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tuple))->rolname));
	ReleaseSysCache(tuple);
	return name;
}

/*
 * The OID of the role that text names (one identifier, quoted or not), or
 * InvalidOid with a WARNING when this cluster has no such role.  A restore
 * reads many rows of one owner in a row: the warning is given once for
 * them.
 */
static Oid
OwnerFromName(const char *text)
{
	static char last_missing[NAMEDATALEN] = "";
	char	   *raw = pstrdup(text);
	List	   *names;
	const char *rolname;
	Oid			owner;

	if (strcmp(text, NO_OWNER) == 0)
		return InvalidOid;
	if (!SplitIdentifierString(raw, '.', &names) || list_length(names) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid lease owner: \"%s\"", text),
				 errhint("A lease owner is a role name, or \"-\" for none.")));
	rolname = (const char *) linitial(names);
	owner = get_role_oid(rolname, true);
	if (!OidIsValid(owner) && strncmp(last_missing, rolname, NAMEDATALEN) != 0)
	{
		strlcpy(last_missing, rolname, NAMEDATALEN);
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("lease owner role \"%s\" does not exist: its leases and history rows are kept with no owner",
						rolname),
				 errdetail("No role can renew, release or check a lease without owner; it ends at its expiry."),
				 errhint("Create the roles before restoring (pg_dumpall --globals-only), or end such leases with lockservice.force_release().")));
	}
	list_free(names);
	pfree(raw);
	return owner;
}

/* The text form of owner: its role's name, quoted where needed, or "-". */
static char *
OwnerToName(Oid owner)
{
	char	   *name = OwnerRoleName(owner);

	return name ? pstrdup(quote_identifier(name)) : pstrdup(NO_OWNER);
}

PG_FUNCTION_INFO_V1(lease_owner_in);
PG_FUNCTION_INFO_V1(lease_owner_out);
PG_FUNCTION_INFO_V1(lease_owner_recv);
PG_FUNCTION_INFO_V1(lease_owner_send);

/* SQL: input function of lockservice.lease_owner (a role name, or "-"). */
Datum
lease_owner_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(OwnerFromName(PG_GETARG_CSTRING(0)));
}

/* SQL: output function of lockservice.lease_owner. */
Datum
lease_owner_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(OwnerToName(PG_GETARG_OID(0)));
}

/*
 * SQL: binary input.  The binary form is the text form too: an OID from
 * another cluster would name another role.
 */
Datum
lease_owner_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *text = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	PG_RETURN_OID(OwnerFromName(text));
}

/* SQL: binary output (the text form, see lease_owner_recv). */
Datum
lease_owner_send(PG_FUNCTION_ARGS)
{
	char	   *text = OwnerToName(PG_GETARG_OID(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, text, strlen(text));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
