"""The embedded PostgreSQL's login roles: one per service, owner of its own databases and of nothing else.

As in compose (``deploy/compose/create-databases.sql``): ``airflow`` owns ``airflow``, ``mlflow`` owns ``mlflow``
and ``mlflow_auth``, ``ml_platform`` owns ``ml_platform``; ``CONNECT`` is revoked from ``PUBLIC``, so a role reaches
its own databases only. The superuser ``postgres`` is in no service's URL: only the supervisor's admin steps
(``database.ensure_databases``) use it. Every platform process runs as the same OS user and reads the same libpq
password file, one line per role; separate files would add nothing against that user. What the roles give is a
boundary at the SQL level: a compromised or mistaken service (an injected query, a migration gone wrong) cannot
read or change another service's data, nor act as a superuser (``COPY … PROGRAM``, ``ALTER SYSTEM``).

A home made before the roles existed has every database and object owned by ``postgres``. ``REASSIGN OWNED BY
postgres`` is refused for the bootstrap superuser (it owns the system catalogs), so ``reassign_objects`` walks the
catalogs instead. Only the embedded server is touched: an external server's roles are its operator's.
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2 import sql
from psycopg2.extensions import cursor, encrypt_password

SUPERUSER = "postgres"
OWNERS = {"airflow": "airflow", "mlflow": "mlflow", "mlflow_auth": "mlflow", "ml_platform": "ml_platform"}
"""Each platform database (without ``ML_PLATFORM_DATABASE_PREFIX``) and the role that owns it."""
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

_USER_SCHEMA = "n.nspname NOT IN ('information_schema', 'pg_catalog', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%%'"
_SUPERUSER_OID = "(SELECT oid FROM pg_roles WHERE rolname = %(superuser)s)"


def _not_in_extension(catalog: str, oid: str) -> str:
    return f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid} " \
           "AND e.deptype = 'e')"


OWNED_BY_SUPERUSER = f"""
SELECT 'SCHEMA', quote_ident(n.nspname) FROM pg_namespace n
 WHERE n.nspowner = {_SUPERUSER_OID} AND {_USER_SCHEMA} AND {_not_in_extension('pg_namespace', 'n.oid')}
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = {_SUPERUSER_OID} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER_SCHEMA}
   AND {_not_in_extension('pg_class', 'c.oid')}
   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
            AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typowner = {_SUPERUSER_OID} AND {_USER_SCHEMA} AND t.typtype <> 'm'
   AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
   AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid) AND {_not_in_extension('pg_type', 't.oid')}
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       p.oid::regprocedure::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proowner = {_SUPERUSER_OID} AND {_USER_SCHEMA} AND {_not_in_extension('pg_proc', 'p.oid')}
"""
"""What a role takes over in its database: schemas, tables, views, materialized views, sequences no column owns (a
column's go with their table), types (enums, domains, ranges, composites; not a table's row type or an array type)
and routines owned by the superuser, outside the system schemas and extensions."""


def owner_of(database: str) -> str:
    """The role that owns ``database`` (a name without prefix); the superuser for any other name."""
    return OWNERS.get(database, SUPERUSER)


def ensure_roles(cur: cursor, passwords: Mapping[str, str]) -> None:
    """Create each login role that does not exist yet; give every one its password and no other privilege.

    Run at each start, so a changed secret applies then. The password reaches the server as a SCRAM verifier,
    computed here: the plain text is never in a statement the server could log.
    """
    for role, password in passwords.items():
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(sql.SQL("{} ROLE {} " + ROLE_ATTRIBUTES + " PASSWORD %s").format(
            sql.SQL(verb), sql.Identifier(role)), (scram_verifier(cur, role, password),))


def set_password(cur: cursor, role: str, password: str) -> None:
    """Give the existing ``role`` (the superuser too) ``password``, sent as a SCRAM verifier, never in plain text."""
    cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(role)),
                (scram_verifier(cur, role, password),))


def scram_verifier(cur: cursor, role: str, password: str) -> str:
    """What the server stores for ``password``, computed here (a failing statement PostgreSQL logs shows only it)."""
    return encrypt_password(password, role, cur.connection, "scram-sha-256")


def own_database(cur: cursor, database: str, role: str) -> None:
    """Make ``role`` the owner of ``database`` and the only one, besides superusers, that may connect to it."""
    cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)))
    cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def reassign_objects(cur: cursor, role: str) -> list[str]:
    """Hand everything the superuser owns in the connected database (``OWNED_BY_SUPERUSER``) to ``role``.

    Returns the objects it changed, as ``KIND name``: none once a database is upgraded.
    """
    cur.execute(OWNED_BY_SUPERUSER, {"superuser": SUPERUSER})
    objects = cur.fetchall()
    for kind, name in objects:
        # names as the server quotes them (quote_ident, regclass, regtype, regprocedure)
        cur.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(name), sql.Identifier(role)))
    return [f"{kind} {name}" for kind, name in objects]
