package workloads

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// conn is one connection: the server reads from server, the driver
// writes to driver.
type conn struct{ server, driver int }

// sendTimeout bounds a driver write blocked on a full socket, so the
// driver notices Stop.
const sendTimeout = waitTimeout

// openConns opens cfg.FDs connections, raising RLIMIT_NOFILE first. The
// server ends are non-blocking; the driver ends block, for at most
// sendTimeout. For select, the driver ends are moved to fds at or above
// FD_SETSIZE when RLIMIT_NOFILE allows, leaving the fds below it for the
// server ends.
func openConns(cfg Config) (conns []conn, err error) {
	need := uint64(2*cfg.FDs + 64)
	relocate := cfg.Model == Select && raiseNofile(need+FDSetSize) == nil
	if err := raiseNofile(need); err != nil {
		return nil, fmt.Errorf("%d connections: %w", cfg.FDs, err)
	}

	conns = make([]conn, 0, cfg.FDs)
	defer func() {
		if err != nil {
			closeConns(conns)
			conns = nil
		}
	}()
	open := openSocketpair
	if cfg.TCP {
		l, err := listenLoopback()
		if err != nil {
			return nil, err
		}
		defer unix.Close(l.fd)
		open = l.connect
	}
	for i := 0; i < cfg.FDs; i++ {
		c, err := open()
		if err != nil {
			return conns, fmt.Errorf("connection %d of %d: %w", i+1, cfg.FDs, err)
		}
		conns = append(conns, c)
		if err := unix.SetNonblock(c.server, true); err != nil {
			return conns, err
		}
		tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(c.driver, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			return conns, fmt.Errorf("SO_SNDTIMEO: %w", err)
		}
		if relocate {
			hi, err := unix.FcntlInt(uintptr(c.driver), unix.F_DUPFD_CLOEXEC, FDSetSize)
			if err != nil {
				return conns, fmt.Errorf("moving a driver fd above FD_SETSIZE: %w", err)
			}
			unix.Close(c.driver)
			conns[i].driver = hi
		}
	}
	return conns, nil
}

func closeConns(conns []conn) {
	for _, c := range conns {
		unix.Close(c.server)
		unix.Close(c.driver)
	}
}

func openSocketpair() (conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return conn{}, fmt.Errorf("socketpair: %w", err)
	}
	return conn{server: fds[0], driver: fds[1]}, nil
}

// listener is a loopback TCP listener on a raw fd.
type listener struct {
	fd   int
	addr unix.SockaddrInet4
}

func listenLoopback() (*listener, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tcp socket: %w", err)
	}
	l := &listener{fd: fd}
	l.addr.Addr = [4]byte{127, 0, 0, 1}
	err = unix.Bind(fd, &l.addr)
	if err == nil {
		err = unix.Listen(fd, 128)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tcp listener on 127.0.0.1: %w", err)
	}
	l.addr.Port = sa.(*unix.SockaddrInet4).Port
	return l, nil
}

// connect makes one connection to the listener and accepts it.
func (l *listener) connect() (conn, error) {
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return conn{}, fmt.Errorf("tcp socket: %w", err)
	}
	// Small messages go out at once rather than wait for an ACK.
	if err := unix.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(c)
		return conn{}, fmt.Errorf("TCP_NODELAY: %w", err)
	}
	for {
		err = unix.Connect(c, &l.addr)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(c)
		if err == unix.EADDRNOTAVAIL {
			return conn{}, fmt.Errorf("connect to 127.0.0.1:%d: %w (loopback TCP connections are limited by net.ipv4.ip_local_port_range)", l.addr.Port, err)
		}
		return conn{}, fmt.Errorf("connect to 127.0.0.1:%d: %w", l.addr.Port, err)
	}
	var s int
	for {
		s, _, err = unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(c)
		return conn{}, fmt.Errorf("accept: %w", err)
	}
	return conn{server: s, driver: c}, nil
}

// raiseNofile makes RLIMIT_NOFILE at least need, raising the hard limit
// too when allowed (as root, up to fs.nr_open).
func raiseNofile(need uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	raised := lim
	raised.Cur = need
	raised.Max = max(lim.Max, need)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Errorf("need %d file descriptors, but RLIMIT_NOFILE is %d (hard limit %d) and raising it failed: %v (raising the hard limit needs CAP_SYS_RESOURCE, and stays within fs.nr_open)",
			need, lim.Cur, lim.Max, err)
	}
	return nil
}
