package collector

// Names change: exec sets a process's name to its new program's, and
// PR_SET_NAME to anything. Snapshot re-reads the names of live targets;
// these catch the last name of one that ends between snapshots.

// noteExit marks a target exited, with its last name: it may have exec'd
// since it was read, and /proc still has it until its parent reaps it.
func (c *Collector) noteExit(tgid int) {
	comm, ok := readComm(tgid, 0)
	c.mu.Lock()
	if p := c.procs[tgid]; p != nil {
		p.exited = true
		if ok {
			p.comm = comm
		}
	}
	c.mu.Unlock()
}

// RefreshName re-reads a target's name: its parent calls it once the
// process has exited but before reaping it (iotrace's command).
func (c *Collector) RefreshName(tgid int) {
	comm, ok := readComm(tgid, 0)
	c.mu.Lock()
	if p := c.procs[tgid]; p != nil && ok {
		p.comm = comm
	}
	c.mu.Unlock()
}
