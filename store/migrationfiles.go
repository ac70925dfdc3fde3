package store

import "io/fs"

// Migration is one schema migration file, NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the NNNN_description.sql files of the migrations directory of
// fsys, sorted by version; versions must be 1, 2, 3... without gaps. Other stores
// (PostgreSQL) keep their own migration files in the same layout.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = Migration{Version: m.version, Name: m.name, SQL: m.sql}
	}
	return out, nil
}
