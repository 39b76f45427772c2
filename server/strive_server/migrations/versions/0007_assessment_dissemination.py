"""Assessment, research, recipients, dissemination and outcome history (issue 11)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:24:33.528390
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import strive_server.db.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "regions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
    )
    op.create_table(
        "recipient_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_keys_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_recipient_keys")),
    )
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recipient_keys_recipient_id"), ["recipient_id"], unique=False
        )

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("referral_pk", sa.Integer(), nullable=True),
        sa.Column("threat", sa.Text(), nullable=False),
        sa.Column("harm", sa.Text(), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("investigation", sa.Text(), nullable=False),
        sa.Column("vulnerability", sa.Text(), nullable=False),
        sa.Column("engagement", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("assessed_by", sa.String(length=200), nullable=False),
        sa.Column(
            "assessed_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_assessments_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_assessments_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assessments_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "research_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("referral_pk", sa.Integer(), nullable=True),
        sa.Column("selector_kind", sa.String(length=32), nullable=True),
        sa.Column("selector_value", sa.String(length=400), nullable=True),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("source_reference", sa.String(length=200), nullable=False),
        sa.Column("source_evaluation", sa.String(length=1), nullable=False),
        sa.Column("intelligence_assessment", sa.String(length=1), nullable=False),
        sa.Column("handling_code", sa.String(length=1), nullable=False),
        sa.Column("handling_conditions", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_research_findings_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"],
            ["referrals.id"],
            name=op.f("fk_research_findings_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_findings")),
    )
    with op.batch_alter_table("research_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_findings_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_research_findings_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "disseminations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("recipient_key_id", sa.String(length=64), nullable=False),
        sa.Column("suite", sa.String(length=64), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "formats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "grading",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sent_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_disseminations_assessment_id_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_disseminations_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_disseminations_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disseminations")),
    )
    with op.batch_alter_table("disseminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disseminations_cluster_id"), ["cluster_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disseminations_recipient_id"), ["recipient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disseminations_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "dissemination_referrals",
        sa.Column("dissemination_id", sa.String(length=40), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dissemination_id"],
            ["disseminations.id"],
            name=op.f("fk_dissemination_referrals_dissemination_id_disseminations"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"],
            ["referrals.id"],
            name=op.f("fk_dissemination_referrals_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint(
            "dissemination_id", "referral_pk", name=op.f("pk_dissemination_referrals")
        ),
    )
    with op.batch_alter_table("dissemination_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dissemination_referrals_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "outcome_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("dissemination_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=48), nullable=False),
        sa.Column("force_reference", sa.String(length=100), nullable=True),
        sa.Column("case_reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by_kind", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["dissemination_id"],
            ["disseminations.id"],
            name=op.f("fk_outcome_events_dissemination_id_disseminations"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_outcome_events_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_events")),
    )
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcome_events_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outcome_events_referral_pk"), ["referral_pk"], unique=False
        )
    op.create_table(
        "referral_erasures",
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("erased_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("review_basis", sa.String(length=48), nullable=False),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=False),
        sa.Column("referral_digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"],
            name=op.f("fk_referral_erasures_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint("referral_pk", name=op.f("pk_referral_erasures")),
    )  # fmt: skip
    _allow_erasure()


def downgrade() -> None:
    _forbid_erasure()
    op.drop_table("referral_erasures")
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_events_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_outcome_events_outcome"))

    op.drop_table("outcome_events")
    with op.batch_alter_table("dissemination_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dissemination_referrals_referral_pk"))

    op.drop_table("dissemination_referrals")
    with op.batch_alter_table("disseminations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disseminations_sent_at"))
        batch_op.drop_index(batch_op.f("ix_disseminations_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_disseminations_cluster_id"))

    op.drop_table("disseminations")
    with op.batch_alter_table("research_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_findings_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_research_findings_cluster_id"))

    op.drop_table("research_findings")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_assessments_cluster_id"))

    op.drop_table("assessments")
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipient_keys_recipient_id"))

    op.drop_table("recipient_keys")
    op.drop_table("recipients")


# Erasure after review (spec/api.md, "Retention and review"): the evidence columns of a
# referral stay immutable, except that its envelope and document may be emptied, and nothing
# else changed, once an erasure is recorded for it in the append-only referral_erasures.
_EVIDENCE_COLUMNS = (
    "asw_id, referral_id, referral_digest, envelope, envelope_sha256, key_id, issued_at, "
    "received_at, receipt_envelope, document"
)
_KEPT = (
    "asw_id", "referral_id", "referral_digest", "envelope_sha256", "key_id", "issued_at",
    "received_at", "receipt_envelope",
)  # fmt: skip


def _allow_erasure() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        kept = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT)
        op.execute("DROP TRIGGER referrals_evidence_immutable")
        op.execute(
            "CREATE TRIGGER referrals_evidence_immutable "  # noqa: S608 - fixed names
            f"BEFORE UPDATE OF {_EVIDENCE_COLUMNS} "
            "ON referrals WHEN NOT (EXISTS (SELECT 1 FROM referral_erasures e "
            "WHERE e.referral_pk = OLD.id) AND NEW.envelope = X'' AND NEW.document = '{}' "
            f"AND {kept}) "
            "BEGIN SELECT RAISE(ABORT, 'strive: referrals_evidence_immutable'); END"
        )
        for name, event in (
            ("referral_erasures_no_update", "BEFORE UPDATE ON referral_erasures"),
            ("referral_erasures_no_delete", "BEFORE DELETE ON referral_erasures"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} {event} BEGIN SELECT RAISE(ABORT, 'strive: {name}'); END"
            )
    elif dialect == "postgresql":
        kept_new = ", ".join(f"NEW.{c}" for c in _KEPT)
        kept_old = ", ".join(f"OLD.{c}" for c in _KEPT)
        op.execute(
            "CREATE FUNCTION strive_guard_referral_evidence() "  # noqa: S608 - fixed names
            "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM referral_erasures e WHERE e.referral_pk = OLD.id) "
            "AND NEW.envelope = ''::bytea AND NEW.document = '{}'::jsonb "
            f"AND ROW({kept_new}) IS NOT DISTINCT FROM ROW({kept_old}) THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'strive: UPDATE of the evidence on referrals is not allowed'; "
            "END $$"
        )
        op.execute("DROP TRIGGER referrals_evidence_immutable ON referrals")
        op.execute(
            f"CREATE TRIGGER referrals_evidence_immutable BEFORE UPDATE OF {_EVIDENCE_COLUMNS} "
            "ON referrals FOR EACH ROW EXECUTE FUNCTION strive_guard_referral_evidence()"
        )
        op.execute(
            "CREATE TRIGGER referral_erasures_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON referral_erasures FOR EACH STATEMENT EXECUTE FUNCTION strive_refuse_change()"
        )


def _forbid_erasure() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS referral_erasures_no_update")
        op.execute("DROP TRIGGER IF EXISTS referral_erasures_no_delete")
        op.execute("DROP TRIGGER referrals_evidence_immutable")
        op.execute(
            f"CREATE TRIGGER referrals_evidence_immutable BEFORE UPDATE OF {_EVIDENCE_COLUMNS} "
            "ON referrals BEGIN SELECT RAISE(ABORT, 'strive: referrals_evidence_immutable'); END"
        )
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS referral_erasures_append_only ON referral_erasures")
        op.execute("DROP TRIGGER referrals_evidence_immutable ON referrals")
        op.execute(
            f"CREATE TRIGGER referrals_evidence_immutable BEFORE UPDATE OF {_EVIDENCE_COLUMNS} "
            "ON referrals FOR EACH ROW EXECUTE FUNCTION strive_refuse_change()"
        )
        op.execute("DROP FUNCTION IF EXISTS strive_guard_referral_evidence()")
