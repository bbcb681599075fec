-- csrd (CSRD reporting): schema and seed data. Idempotent: safe to run again.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS datapoint_catalog (
    code text PRIMARY KEY,
    standard text NOT NULL,
    unit text NOT NULL,
    xbrl_concept text NOT NULL
);
CREATE TABLE IF NOT EXISTS materiality_topics (
    topic text PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE IF NOT EXISTS datapoints (
    id bigserial PRIMARY KEY,
    company text NOT NULL,
    period text NOT NULL,
    code text NOT NULL REFERENCES datapoint_catalog (code),
    value numeric(18, 3) NOT NULL,
    UNIQUE (company, period, code)
);
CREATE TABLE IF NOT EXISTS reports (
    id bigserial PRIMARY KEY,
    company text NOT NULL,
    period text NOT NULL,
    report_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO datapoint_catalog (code, standard, unit, xbrl_concept) VALUES
    ('E1-6_scope1', 'ESRS E1', 'tCO2e', 'esrs:GrossScope1GHGEmissions'),
    ('E1-6_scope2_location', 'ESRS E1', 'tCO2e', 'esrs:GrossLocationBasedScope2GHGEmissions'),
    ('E1-6_scope2_market', 'ESRS E1', 'tCO2e', 'esrs:GrossMarketBasedScope2GHGEmissions'),
    ('E1-6_scope3', 'ESRS E1', 'tCO2e', 'esrs:GrossScope3GHGEmissions'),
    ('E1-6_net_revenue_meur', 'ESRS E1', 'MEUR', 'esrs:NetRevenue'),
    ('E1-5_energy_total_mwh', 'ESRS E1', 'MWh', 'esrs:TotalEnergyConsumption'),
    ('E3-4_water_m3', 'ESRS E3', 'm3', 'esrs:TotalWaterConsumption'),
    ('E5-5_waste_t', 'ESRS E5', 't', 'esrs:TotalAmountOfWasteGenerated'),
    ('S1-6_employees', 'ESRS S1', 'headcount', 'esrs:NumberOfEmployeesHeadCount'),
    ('S1-16_pay_gap_pct', 'ESRS S1', '%', 'esrs:GenderPayGap'),
    ('G1-4_corruption_cases', 'ESRS G1', 'count', 'esrs:NumberOfConvictionsForCorruption')
ON CONFLICT (code) DO NOTHING;

INSERT INTO materiality_topics (topic, name) VALUES
    ('E1', 'Climate change'),
    ('E2', 'Pollution'),
    ('E3', 'Water and marine resources'),
    ('E4', 'Biodiversity and ecosystems'),
    ('E5', 'Resource use and circular economy'),
    ('S1', 'Own workforce'),
    ('S2', 'Workers in the value chain'),
    ('S3', 'Affected communities'),
    ('S4', 'Consumers and end-users'),
    ('G1', 'Business conduct')
ON CONFLICT (topic) DO NOTHING;

INSERT INTO datapoints (company, period, code, value) VALUES
    ('GreenLang SE', '2025', 'E1-6_scope1', 12450.000),
    ('GreenLang SE', '2025', 'E1-6_scope2_market', 8300.500),
    ('GreenLang SE', '2025', 'E1-6_scope3', 154200.000),
    ('GreenLang SE', '2025', 'E1-6_net_revenue_meur', 820.000),
    ('GreenLang SE', '2025', 'S1-6_employees', 2140.000)
ON CONFLICT (company, period, code) DO NOTHING;

INSERT INTO schema_migrations (version) VALUES ('001_initial') ON CONFLICT (version) DO NOTHING;
