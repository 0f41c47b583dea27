import { describe, expect, it } from "vitest";
import { deniedFunction, pgReadOnlyRefusal } from "./read-only.ts";

const refusal = async (sql: string) => (await pgReadOnlyRefusal(sql))?.message ?? null;

describe("PostgreSQL read-only guard (parse tree)", () => {
  it.each([
    "select * from orders where region = $1",
    "SELECT 1",
    "  select 1 ;  ",
    "values (1), (2)",
    "table orders",
    "with x as (select 1 as a) select * from x",
    "explain select * from orders",
    "explain (analyze, buffers) select count(*) from orders",
    "show search_path",
    "select lower('X'), lo_get(1), pg_advisory_xact_lock(1), now(), pg_sleep(0)",
    "select * from orders for update",
    "select 'pg_read_file(''/etc/passwd'')' as text_not_a_call, \"pg_read_file\" from t",
    "-- only a comment",
    "select $$copy (select 1) to program 'x'$$",
  ])("lets a read through: %s", async (sql) => {
    expect(await refusal(sql)).toBeNull();
  });

  it.each([
    ["copy (select 1) to program 'touch /tmp/x'", /COPY … PROGRAM runs a program/],
    ["copy t to '/tmp/f'", /COPY to or from a file/],
    ["copy t from '/etc/passwd'", /COPY to or from a file/],
    ["copy t to stdout", /COPY is not a query/],
    ["select lo_import('/etc/passwd')", /lo_import\(\) creates, changes or exports large objects/],
    ["select lo_export(1, '/tmp/x')", /lo_export/],
    ["select lo_from_bytea(0, 'x')", /lo_from_bytea/],
    ["select pg_read_file('/etc/passwd')", /pg_read_file\(\) reads or writes files/],
    ["select pg_read_binary_file('/etc/passwd')", /pg_read_binary_file/],
    ["select * from pg_ls_dir('.')", /pg_ls_dir/],
    ["select pg_stat_file('postgresql.conf')", /pg_stat_file/],
    ["select pg_reload_conf()", /pg_reload_conf\(\) signals/],
    ["select pg_terminate_backend(123)", /pg_terminate_backend/],
    ["select pg_cancel_backend(pid) from pg_stat_activity", /pg_cancel_backend/],
    ["select set_config('search_path', 'pg_catalog', false)", /set_config\(\) changes session state/],
    ["select pg_advisory_lock(1)", /pg_advisory_lock\(\) changes session state/],
    ["select query_to_xml('select pg_read_file(''/etc/passwd'')', true, true, '')", /query_to_xml\(\) runs SQL given as text/],
    ["select * from dblink('host=x', 'select 1') as t(a int)", /dblink/],
    // Hidden: CTE, subquery, argument, FROM, schema-qualified, quoted, case, EXPLAIN ANALYZE.
    ["with x as (select pg_catalog.lo_import('/etc/passwd')) select * from x", /lo_import/],
    ["select * from (select 1 from (select pg_read_file('/etc/passwd')) a) b", /pg_read_file/],
    ["select length(coalesce(null, pg_read_file('/etc/passwd')))", /pg_read_file/],
    ["select * from pg_catalog.pg_read_file('/etc/passwd') as f", /pg_read_file/],
    ['select "pg_read_file"(\'/etc/passwd\')', /pg_read_file/],
    ["select PG_READ_FILE('/etc/passwd')", /pg_read_file/],
    ['select pg_catalog."PG_RELOAD_CONF"()', /PG_RELOAD_CONF/],
    ["explain analyze select pg_terminate_backend(1)", /pg_terminate_backend/],
    ["select 1 where exists (select pg_reload_conf())", /pg_reload_conf/],
    ["select array(select lo_creat(-1))", /lo_creat/],
    // Attribute notation is a call too: (x).f and t.x.f run f(x).
    ["select (x).pg_read_file from (select '/etc/passwd'::text x) s", /pg_read_file \(a function called in attribute notation\) reads or writes files/],
    ["select ('/etc/passwd'::text).pg_read_file", /pg_read_file/],
    ["select (x).lo_import from (select '/etc/passwd'::text x) s", /lo_import/],
    ["select (pid).pg_terminate_backend from pg_stat_activity", /pg_terminate_backend/],
    ["select s.x.pg_read_file from (select '/etc/passwd'::text) s(x)", /pg_read_file/],
    ["select (x).\"PG_READ_FILE\"[1] from t", /PG_READ_FILE/],
    // Statements and sessions.
    ["commit; drop table t", /2 statements/],
    ["select 1; select 2", /2 statements/],
    ["drop table t", /DROP is not a query/],
    ["insert into t values (1)", /INSERT is not a query/],
    ["with d as (delete from t returning *) select * from d", /DELETE is not a query/],
    ["explain analyze delete from t", /DELETE is not a query/],
    ["select 1 into t2", /SELECT … INTO creates a table/],
    ["set search_path = pg_catalog", /SET \/ RESET changes session state/],
    ["set local statement_timeout = 0", /SET \/ RESET/],
    ["set transaction read write", /SET \/ RESET/],
    ["reset all", /SET \/ RESET/],
    ["set role postgres", /SET ROLE changes session state/],
    ["set session authorization postgres", /SET SESSION AUTHORIZATION/],
    ["discard all", /DISCARD/],
    ["listen x", /LISTEN/],
    ["prepare p as select 1", /PREPARE/],
    ["declare c cursor with hold for select 1", /DECLARE CURSOR/],
    ["do $$ begin perform pg_read_file('/etc/passwd'); end $$", /DO is not a query/],
    ["call p()", /CALL/],
    ["load 'auto_explain'", /LOAD/],
    ["alter system set work_mem = '1GB'", /ALTER SYSTEM/],
    ["checkpoint", /CHECKPOINT/],
    ["commit", /transaction control/],
  ] as [string, RegExp][])("refuses %s", async (sql, why) => {
    const msg = await refusal(sql);
    expect(msg).toMatch(/^Read-only query refused: /);
    expect(msg).toMatch(why);
  });

  it("reports invalid SQL as a syntax error, not as a refused write", async () => {
    expect(await refusal("selec 1")).toBe('The SQL is not valid: syntax error at or near "selec" at character 1; fix it and send it again');
    expect(await refusal("select * from t where")).toMatch(/^The SQL ends before the statement is complete .*PostgreSQL said: syntax error at end of input/);
  });

  it("names a denied function whatever its case, and lets the transaction-scoped variants through", () => {
    expect(deniedFunction("LO_IMPORT")).toMatch(/large objects/);
    expect(deniedFunction("pg_try_advisory_lock_shared")).toMatch(/session/);
    expect(deniedFunction("pg_try_advisory_xact_lock")).toBeNull();
    expect(deniedFunction("lower")).toBeNull();
    expect(deniedFunction("count")).toBeNull();
  });
});
