package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// copyCorpusWithout copies the corpus entries of dir (its *.json files)
// to dst, leaving out those whose "bug" field names bug: measuring how
// fast an exploration seeded with earlier bugs' failing runs finds bug,
// the corpus must not hold bug's own (leave-one-out), or the measurement
// would only replay the answer.
func copyCorpusWithout(dir, dst, bug string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: no *.json entries", dir)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var en struct {
			Bug string `json:"bug"`
		}
		if err := json.Unmarshal(b, &en); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if en.Bug == bug {
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(name)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
