"""Evidence guards: triggers that refuse changes to the evidence and the audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _install_guards()


def downgrade() -> None:
    _remove_guards()


# Evidence, the audit trail and the casework history cannot be changed through the database
# either: updates and deletes of audit events, lifecycle transitions and feedback, deletes of
# referrals and requests for information, and updates of the columns that hold or derive from
# the signed bytes, are refused by triggers (spec/api.md, "What the receiver guarantees").
_EVIDENCE_COLUMNS = (
    "asw_id, referral_id, referral_digest, envelope, envelope_sha256, key_id, issued_at, "
    "received_at, receipt_envelope, document"
)


def _install_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, event in (
            ("audit_events_no_update", "BEFORE UPDATE ON audit_events"),
            ("audit_events_no_delete", "BEFORE DELETE ON audit_events"),
            ("referrals_no_delete", "BEFORE DELETE ON referrals"),
            ("referrals_evidence_immutable", f"BEFORE UPDATE OF {_EVIDENCE_COLUMNS} ON referrals"),
            ("state_transitions_no_update", "BEFORE UPDATE ON state_transitions"),
            ("state_transitions_no_delete", "BEFORE DELETE ON state_transitions"),
            ("feedback_no_delete", "BEFORE DELETE ON feedback"),
            ("feedback_no_update", "BEFORE UPDATE ON feedback"),
            ("information_requests_no_delete", "BEFORE DELETE ON information_requests"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} {event} BEGIN SELECT RAISE(ABORT, 'strive: {name}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION strive_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'strive: % on % is not allowed', TG_OP, TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION strive_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER referrals_no_delete BEFORE DELETE OR TRUNCATE ON referrals "
            "FOR EACH STATEMENT EXECUTE FUNCTION strive_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER referrals_evidence_immutable BEFORE UPDATE OF {_EVIDENCE_COLUMNS} "
            "ON referrals FOR EACH ROW EXECUTE FUNCTION strive_refuse_change()"
        )
        for table in ("state_transitions", "feedback"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION strive_refuse_change()"
            )
        op.execute(
            "CREATE TRIGGER information_requests_no_delete BEFORE DELETE OR TRUNCATE "
            "ON information_requests FOR EACH STATEMENT EXECUTE FUNCTION strive_refuse_change()"
        )


def _remove_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in (
            "audit_events_no_update",
            "audit_events_no_delete",
            "referrals_no_delete",
            "referrals_evidence_immutable",
            "state_transitions_no_update",
            "state_transitions_no_delete",
            "feedback_no_delete",
            "feedback_no_update",
            "information_requests_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS referrals_no_delete ON referrals")
        op.execute("DROP TRIGGER IF EXISTS referrals_evidence_immutable ON referrals")
        op.execute("DROP TRIGGER IF EXISTS state_transitions_append_only ON state_transitions")
        op.execute("DROP TRIGGER IF EXISTS feedback_append_only ON feedback")
        op.execute("DROP TRIGGER IF EXISTS information_requests_no_delete ON information_requests")
        op.execute("DROP FUNCTION IF EXISTS strive_refuse_change()")
