package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for name, mutate := range map[string]func(*Config){
		"no nodes":         func(c *Config) { c.Nodes = 0 },
		"too many nodes":   func(c *Config) { c.Nodes = MaxNodes + 1 },
		"zero duration":    func(c *Config) { c.Duration = 0 },
		"no clients":       func(c *Config) { c.ClientsPerNode = 0 },
		"negative watches": func(c *Config) { c.Watches = -1 },
		"no keys":          func(c *Config) { c.Keys = 0 },
		"empty mix":        func(c *Config) { c.Mix = Mix{} },
		"negative weight":  func(c *Config) { c.Mix.Get = -100 },
		"no timeout":       func(c *Config) { c.RequestTimeout = 0 },
		"bad reads":        func(c *Config) { c.Reads = "stale" },
		"bad faults":       func(c *Config) { c.Faults = "crash,bogus" },
	} {
		c := DefaultConfig()
		mutate(&c)
		require.ErrorIs(t, c.Validate(), ErrBadConfig, name)
		r := Run(c, 1)
		require.Equal(t, Fail, r.Verdict, name)
	}
}
