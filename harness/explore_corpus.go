package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
)

// ErrBadCorpus wraps every error reading a corpus directory.
var ErrBadCorpus = errors.New("bad corpus")

// SaveCorpus writes each entry to dir as its own file, named by a hash of
// its seed and scenario: saving twice, or saving two explorations' corpora
// into one directory, merges them (an entry already there is left alone).
func SaveCorpus(dir string, entries []Entry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, en := range entries {
		b, err := json.MarshalIndent(en, "", " ")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, entryName(en))
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// entryName is the file name of an entry: a hash of its run.
func entryName(en Entry) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d:", en.Seed)
	h.Write(MarshalScenario(en.Scenario))
	return fmt.Sprintf("%016x.json", h.Sum64())
}

// LoadCorpus reads every *.json entry of dir, in file name order (so the
// same directory gives the same corpus). A missing directory is an empty
// corpus; a file that is not an entry is an error naming it. Regression
// files (testdata/regress: bug, found_by, reason, seed, scenario) are
// entries too. A scenario's missing fields take DefaultScenario's values,
// so a file written before a field existed still loads.
func LoadCorpus(dir string) ([]Entry, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Entry
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		en, err := decodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadCorpus, name, err)
		}
		out = append(out, en)
	}
	return out, nil
}

// decodeEntry reads one entry strictly (unknown fields are errors).
func decodeEntry(b []byte) (Entry, error) {
	var raw struct {
		Entry
		Scenario json.RawMessage `json:"scenario"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Entry{}, err
	}
	if raw.Scenario == nil {
		return Entry{}, errors.New("no scenario")
	}
	sc, err := DecodeScenario(bytes.NewReader(raw.Scenario), DefaultScenario())
	if err != nil {
		return Entry{}, err
	}
	en := raw.Entry
	en.Scenario = sc
	en.raw = raw.Scenario
	return en, nil
}
