#!/bin/sh
### BEGIN INIT INFO
# Provides:          {{ spec.name }}
# Required-Start:    $remote_fs $network $syslog
# Required-Stop:     $remote_fs $network $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{ spec.summary }}
# Description:       {{ spec.summary }}, run by tapd as user {{ spec.user }}.
### END INIT INFO

PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME={{ spec.name }}
DESC={{ spec.summary | shell_quote }}
DAEMON={{ layout.launcher }}
PIDFILE={{ layout.pidfile }}
RUNDIR={{ layout.rundir }}
USER={{ spec.user }}
TAPD_OPTS=""

[ -x "$DAEMON" ] || exit 0
[ -r {{ layout.default_file }} ] && . {{ layout.default_file }}
# tapd reads TAPD_TLS from its environment, as under the systemd unit
if [ -n "${TAPD_TLS:-}" ]; then export TAPD_TLS; fi

. /lib/lsb/init-functions

do_start() {
	install -d -o "$USER" -g "$USER" -m 0755 "$RUNDIR"
	install -d -o "$USER" -g "$USER" -m 0750 {{ layout.logdir }} {{ layout.statedir }}
	# shellcheck disable=SC2086
	start-stop-daemon --start --quiet --pidfile "$PIDFILE" --chuid "$USER:$USER" \
		--chdir {{ layout.statedir }} --exec /usr/bin/python3 --startas "$DAEMON" -- \
		{{ tapd_daemon }} $TAPD_OPTS
}

do_stop() {
	start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 --pidfile "$PIDFILE" --remove-pidfile \
		--exec /usr/bin/python3
}

case "$1" in
start)
	log_daemon_msg "Starting $DESC" "$NAME"
	do_start
	log_end_msg $?
	;;
stop)
	log_daemon_msg "Stopping $DESC" "$NAME"
	do_stop
	log_end_msg $?
	;;
restart|force-reload)
	log_daemon_msg "Restarting $DESC" "$NAME"
	do_stop || true
	do_start
	log_end_msg $?
	;;
status)
	status_of_proc -p "$PIDFILE" /usr/bin/python3 "$NAME" && exit 0 || exit $?
	;;
*)
	echo "Usage: /etc/init.d/$NAME {start|stop|restart|force-reload|status}" >&2
	exit 3
	;;
esac

exit 0
