"""On PostgreSQL, hold the ledger's rules in the database itself.

- Entries, transactions and reward policies are append-only: UPDATE and DELETE are refused
  (accounts may not be deleted; their ``balance`` copy is updated under the row lock).
- At commit, the entries of every transaction that received entries sum to zero: a deferred
  constraint trigger, so the legs of one transaction may be inserted one by one.
The code checks the same before writing; SQLite (the development default) relies on the code.
"""

from django.db import migrations

APPEND_ONLY_TABLES = ["rewards_ledgerentry", "rewards_ledgertransaction", "rewards_rewardpolicy"]

CREATE = """
CREATE OR REPLACE FUNCTION rewards_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION rewards_transaction_balanced() RETURNS trigger AS $$
DECLARE
    total numeric;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total
        FROM rewards_ledgerentry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (entries sum to %)', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER rewards_transaction_balanced
    AFTER INSERT ON rewards_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION rewards_transaction_balanced();

CREATE TRIGGER rewards_account_not_deleted
    BEFORE DELETE ON rewards_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION rewards_append_only();
"""

APPEND_ONLY = """
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION rewards_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS rewards_transaction_balanced ON rewards_ledgerentry;
DROP TRIGGER IF EXISTS rewards_account_not_deleted ON rewards_ledgeraccount;
{drops}
DROP FUNCTION IF EXISTS rewards_transaction_balanced();
DROP FUNCTION IF EXISTS rewards_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # params=None: the SQL is sent as is, so the "%" of RAISE is not read as a placeholder.
        schema_editor.execute(CREATE, params=None)
        for table in APPEND_ONLY_TABLES:
            schema_editor.execute(APPEND_ONLY.format(table=table), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        drops = "\n".join(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};" for t in APPEND_ONLY_TABLES)
        schema_editor.execute(DROP.format(drops=drops), params=None)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_ledger_and_reward_policies")]
    operations = [migrations.RunPython(forwards, backwards)]
