-- A hardened, Supabase-style schema: every finding of the postgres_rls and
-- postgres_cascade monitors must stay silent on it, the isolation probe
-- included. Placeholders: {{S}} the exposed schema, {{AUTH}} the accounts
-- schema, {{APP}} and {{ANON}} the application's roles.

CREATE TABLE {{AUTH}}.users (id uuid PRIMARY KEY, email text NOT NULL);

GRANT USAGE ON SCHEMA {{S}} TO {{APP}}, {{ANON}};

-- auth.uid(): the tenant of the request, from the JWT claims.
CREATE FUNCTION {{S}}.uid() RETURNS uuid
    LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
    AS $$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')::uuid $$;

-- profiles: one per account, keyed by the account (cascades from it).
CREATE TABLE {{S}}.profiles (
    user_id uuid PRIMARY KEY REFERENCES {{AUTH}}.users (id) ON DELETE CASCADE,
    display_name text
);

-- notes: reaches the accounts through profiles, cascading at each step.
CREATE TABLE {{S}}.notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES {{S}}.profiles (user_id) ON DELETE CASCADE,
    body text NOT NULL
);

-- todos: references the accounts directly; its policies read the claims inline.
CREATE TABLE {{S}}.todos (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES {{AUTH}}.users (id) ON DELETE CASCADE,
    title text NOT NULL
);

-- note_tags: no tenant column; rows belong to a tenant through their note.
CREATE TABLE {{S}}.note_tags (
    note_id bigint NOT NULL REFERENCES {{S}}.notes (id) ON DELETE CASCADE,
    tag text NOT NULL
);

-- jobs: server-side only: RLS on, no policy, no privileges for the app.
CREATE TABLE {{S}}.jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb);

ALTER TABLE {{S}}.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.profiles FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.notes FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.todos ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.todos FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.note_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.note_tags FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.jobs FORCE ROW LEVEL SECURITY;

CREATE POLICY profiles_select ON {{S}}.profiles FOR SELECT TO {{APP}} USING (user_id = {{S}}.uid());
CREATE POLICY profiles_update ON {{S}}.profiles FOR UPDATE TO {{APP}}
    USING (user_id = {{S}}.uid()) WITH CHECK (user_id = {{S}}.uid());

CREATE POLICY notes_select ON {{S}}.notes FOR SELECT TO {{APP}} USING (user_id = {{S}}.uid());
CREATE POLICY notes_insert ON {{S}}.notes FOR INSERT TO {{APP}} WITH CHECK (user_id = {{S}}.uid());
CREATE POLICY notes_update ON {{S}}.notes FOR UPDATE TO {{APP}}
    USING (user_id = {{S}}.uid()) WITH CHECK (user_id = {{S}}.uid());
CREATE POLICY notes_delete ON {{S}}.notes FOR DELETE TO {{APP}} USING (user_id = {{S}}.uid());

CREATE POLICY todos_all ON {{S}}.todos FOR ALL TO {{APP}}
    USING (user_id = (current_setting('request.jwt.claims', true)::json ->> 'sub')::uuid)
    WITH CHECK (user_id = (current_setting('request.jwt.claims', true)::json ->> 'sub')::uuid);

CREATE POLICY note_tags_select ON {{S}}.note_tags FOR SELECT TO {{APP}}
    USING (EXISTS (SELECT 1 FROM {{S}}.notes n WHERE n.id = note_id));

GRANT SELECT, UPDATE ON {{S}}.profiles TO {{APP}};
GRANT SELECT, INSERT, UPDATE, DELETE ON {{S}}.notes, {{S}}.todos TO {{APP}};
GRANT SELECT ON {{S}}.note_tags TO {{APP}};

-- A view that runs with the reader's privileges, so the policies apply.
CREATE VIEW {{S}}.my_notes WITH (security_invoker = true) AS
    SELECT n.id, n.body, p.display_name FROM {{S}}.notes n JOIN {{S}}.profiles p USING (user_id);
GRANT SELECT ON {{S}}.my_notes TO {{APP}};

-- Functions with a fixed search_path; the one SECURITY DEFINER function is
-- not executable by the app roles (an internal trigger helper).
CREATE FUNCTION {{S}}.note_count() RETURNS bigint
    LANGUAGE sql STABLE SECURITY INVOKER SET search_path = ''
    AS $$ SELECT count(*) FROM {{S}}.notes $$;

CREATE FUNCTION {{S}}.handle_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$ BEGIN INSERT INTO {{S}}.profiles (user_id) VALUES (NEW.id); RETURN NEW; END $$;
REVOKE EXECUTE ON FUNCTION {{S}}.handle_new_user() FROM PUBLIC;

CREATE TRIGGER on_user_created AFTER INSERT ON {{AUTH}}.users
    FOR EACH ROW EXECUTE FUNCTION {{S}}.handle_new_user();

-- Two tenants with data everywhere, so that the probe has rows to compare.
INSERT INTO {{AUTH}}.users (id, email) VALUES
    ('{{TENANT_A}}', 'a@example.com'),
    ('{{TENANT_B}}', 'b@example.com');
INSERT INTO {{S}}.notes (user_id, body) VALUES
    ('{{TENANT_A}}', 'a1'), ('{{TENANT_A}}', 'a2'), ('{{TENANT_B}}', 'b1');
INSERT INTO {{S}}.todos (user_id, title) VALUES ('{{TENANT_A}}', 'ta'), ('{{TENANT_B}}', 'tb');
INSERT INTO {{S}}.note_tags (note_id, tag) SELECT id, 'tag-' || body FROM {{S}}.notes;
INSERT INTO {{S}}.jobs (payload) VALUES ('{"kind": "digest"}');
