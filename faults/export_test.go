package faults

// Unregister removes a fault registered by a test, so that a test's fault
// does not join "all" in the tests after it.
func Unregister(name string) {
	registry.Lock()
	defer registry.Unlock()
	for i, f := range registry.faults {
		if f.Name() == name {
			registry.faults = append(registry.faults[:i], registry.faults[i+1:]...)
			return
		}
	}
}
