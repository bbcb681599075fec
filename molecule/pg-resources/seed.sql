CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, country char(2) NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                     amount numeric(12, 2) NOT NULL, note text);
CREATE TABLE schema_version (version int NOT NULL);
INSERT INTO schema_version VALUES (1);
INSERT INTO customers (name, country)
SELECT 'customer ' || g, (ARRAY['DE', 'FR', 'US'])[g % 3 + 1] FROM generate_series(1, 120) AS g;
INSERT INTO orders (customer_id, amount, note)
SELECT g % 120 + 1, (g % 997) / 3.0, md5(g::text) FROM generate_series(1, 1500) AS g;
