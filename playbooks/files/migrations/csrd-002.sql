-- csrd v2 (the complex one): a per-agent audit trail, a materiality scoring history with a foreign key,
-- a generated column, a backfill and a view the v2 pipeline reads. Each statement is idempotent.
CREATE TABLE IF NOT EXISTS agent_runs (
    id bigserial PRIMARY KEY,
    agent text NOT NULL,
    batch_id text,
    status text NOT NULL CHECK (status IN ('ok', 'warning', 'failed')),
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS agent_runs_agent_started_idx ON agent_runs (agent, started_at DESC);
CREATE TABLE IF NOT EXISTS materiality_scores (
    topic text NOT NULL REFERENCES materiality_topics (topic) ON DELETE CASCADE,
    scored_at timestamptz NOT NULL DEFAULT now(),
    impact_score numeric(5, 2) NOT NULL,
    financial_score numeric(5, 2) NOT NULL,
    material boolean GENERATED ALWAYS AS (impact_score >= 3 OR financial_score >= 3) STORED,
    PRIMARY KEY (topic, scored_at)
);
INSERT INTO materiality_scores (topic, scored_at, impact_score, financial_score)
SELECT topic, '2026-01-01T00:00:00Z', 3, 3 FROM materiality_topics
ON CONFLICT DO NOTHING;
CREATE OR REPLACE VIEW material_topics_latest AS
SELECT DISTINCT ON (topic) topic, scored_at, impact_score, financial_score, material
FROM materiality_scores ORDER BY topic, scored_at DESC;
INSERT INTO schema_migrations (version) VALUES ('002_v2') ON CONFLICT (version) DO NOTHING;
