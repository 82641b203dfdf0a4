-- CreateTable
CREATE TABLE "RuleSetGeneration" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "generation" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "RuleSetGeneration_pkey" PRIMARY KEY ("id")
);

-- The one row. Every statement that inserts, updates or deletes rules (the API, a script, a manual
-- UPDATE, a tenant's cascade) bumps it in its own transaction, so a reader that sees the generation
-- unchanged in its snapshot knows the rules it cached are still the rules (the rules engine reads it
-- with each stored batch: src/services/rules/engine/pair-cache.ts). Per statement, not per row: a
-- bulk insert of 1,000 rules is one bump. Rules change rarely, so the row lock that serializes their
-- writers costs nothing.
INSERT INTO "RuleSetGeneration" ("id", "generation") VALUES (1, 0);

CREATE FUNCTION "doppel_rule_set_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "RuleSetGeneration" SET "generation" = "generation" + 1 WHERE "id" = 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER "Rule_set_changed"
  AFTER INSERT OR UPDATE OR DELETE ON "Rule"
  FOR EACH STATEMENT EXECUTE FUNCTION "doppel_rule_set_changed"();
