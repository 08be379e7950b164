package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/service"
)

// instanceFile holds, in the data folder, the id dev mode also records in its database.
const instanceFile = "instance-id"

// instanceStore is what the instance check needs of the database.
type instanceStore interface {
	DevInstance(ctx context.Context) (db.DevInstance, bool, error)
	ClaimDevInstance(ctx context.Context, inst db.DevInstance) (db.DevInstance, error)
}

// checkInstance makes sure the data folder dir and the database belong together. The first
// start writes a new id to both; a later one refuses to start when they differ: a data folder
// deleted while its database was kept (or a new --dir pointed at it) would otherwise show
// requests its Temporal never ran, with their stock reserved for good. A folder and a database
// that both predate instance ids are taken to belong together. dropDBs are the databases to
// drop to start over (the system's, and Temporal's when they live beside it).
func checkInstance(ctx context.Context, store instanceStore, dir, databaseURL string, dropDBs []string) error {
	path := filepath.Join(dir, instanceFile)
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data folder's instance id: %w", err)
	}
	folderID := strings.TrimSpace(string(raw))
	rec, recorded, err := store.DevInstance(ctx)
	if err != nil {
		return err
	}
	database := service.MaskURL(databaseURL)
	startOver := dropCommand(databaseURL, dropDBs)
	switch {
	case recorded && rec.ID == folderID:
		return nil
	case recorded && folderID == "":
		return fmt.Errorf("the database %s belongs to another data folder (instance %s, at %s), not to %s, which is new.\n"+
			"  To use that database, run with its folder:  --dir %s\n"+
			"  To start over with an empty database:       %s",
			database, rec.ID, rec.Dir, dir, rec.Dir, startOver)
	case recorded:
		return fmt.Errorf("the data folder %s (instance %s) and the database %s (instance %s, whose folder is %s) do not belong together.\n"+
			"  To use that database, run with its folder:  --dir %s\n"+
			"  To start over, drop the database and this folder:  %s && rm -r %s",
			dir, folderID, database, rec.ID, rec.Dir, rec.Dir, startOver, dir)
	case folderID != "":
		return fmt.Errorf("the data folder %s (instance %s) belongs to another database: %s is new or was recreated, "+
			"and the folder's Temporal state has workflows of requests it never held.\n"+
			"  To use this folder, point DATABASE_URL at the database it was used with.\n"+
			"  To start over with an empty folder too:  rm -r %s",
			dir, folderID, database, dir)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	id := hex.EncodeToString(b[:])
	got, err := store.ClaimDevInstance(ctx, db.DevInstance{ID: id, Dir: dir})
	if err != nil {
		return err
	}
	if got.ID != id {
		return fmt.Errorf("the database %s was claimed by another data folder (%s) as this one started", database, got.Dir)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("save the instance id: %w", err)
	}
	return nil
}

// dropCommand is the shell command that drops the databases names on the server of
// databaseURL, with psql's client tools.
func dropCommand(databaseURL string, names []string) string {
	var conn []string
	if cfg, err := pgx.ParseConfig(databaseURL); err == nil {
		conn = append(conn, "-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)))
		if cfg.User != "" {
			conn = append(conn, "-U", cfg.User)
		}
	}
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, strings.Join(append(append([]string{"dropdb"}, conn...), n), " "))
	}
	return strings.Join(cmds, " && ")
}
