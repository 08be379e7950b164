-- Trust nothing at the edges.
--
-- A cabinet names its driver explicitly: the in-process simulator ('sim') is no longer what a
-- cabinet gets by saying nothing. Existing rows keep the driver they have.
ALTER TABLE cabinets ALTER COLUMN driver DROP DEFAULT;

-- A pocket holds at most 100,000 units (db.MaxOnHand), and its par level is no higher: far
-- above any real pocket, low enough to refuse a typo. A database holding more fails this
-- migration, on purpose: such a row is a mistake someone must look at.
ALTER TABLE cabinet_stock ADD CONSTRAINT stock_on_hand_max CHECK (on_hand <= 100000);
ALTER TABLE cabinet_stock ADD CONSTRAINT stock_par_level_max CHECK (par_level <= 100000);
