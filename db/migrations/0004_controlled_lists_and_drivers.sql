-- Controlled medications carry their list of Portaria SVS/MS 344/98 instead of a bare flag;
-- the flag stays, derived, so nothing that reads it changes. Rows already flagged controlled
-- get A1, the strictest list: a wrong guess must err towards more control, and an admin can
-- correct it.
ALTER TABLE medications ADD COLUMN controlled_list text
    CHECK (controlled_list IN ('A1', 'A2', 'A3', 'B1', 'B2', 'C1', 'C2', 'C3', 'C5'));
UPDATE medications SET controlled_list = 'A1' WHERE controlled;
ALTER TABLE medications DROP COLUMN controlled;
ALTER TABLE medications ADD COLUMN controlled boolean
    GENERATED ALWAYS AS (controlled_list IS NOT NULL) STORED;

-- Each cabinet names the driver that commands it: the in-process simulator, or a real cabinet
-- (or the cabinet-sim process) speaking HL7 v2 over MLLP at address host:port.
ALTER TABLE cabinets ADD COLUMN driver text NOT NULL DEFAULT 'sim' CHECK (driver IN ('sim', 'hl7'));
ALTER TABLE cabinets ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE cabinets ADD CONSTRAINT cabinets_hl7_needs_address CHECK (driver <> 'hl7' OR address <> '');
