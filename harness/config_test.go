package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for name, mutate := range map[string]func(*Config){
		"negative nodes":   func(c *Config) { c.Nodes = -1 },
		"too many nodes":   func(c *Config) { c.Nodes = MaxNodes + 1 },
		"zero duration":    func(c *Config) { c.Duration = 0 },
		"negative clients": func(c *Config) { c.ClientsPerNode = -1 },
		"negative watches": func(c *Config) { c.Watches = -1 },
		"negative keys":    func(c *Config) { c.Keys = -1 },
		"bad scenario":     func(c *Config) { s := DefaultScenario(); s.Nodes = 0; c.Scenario = &s },
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
