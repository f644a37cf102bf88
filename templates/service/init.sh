#!/bin/sh
### BEGIN INIT INFO
# Provides:          {{ spec.name }}
# Required-Start:    $remote_fs $network $syslog
# Required-Stop:     $remote_fs $network $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{ spec.summary }}
{% if spec.runtime == "twisted" %}
# Description:       {{ spec.summary }}, run by Twisted as user {{ spec.user }}.
{% else %}
# Description:       {{ spec.summary }}, run by tapd as user {{ spec.user }}.
{% endif %}
### END INIT INFO

PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME={{ spec.name }}
DESC={{ spec.summary | shell_quote }}
DAEMON={{ layout.launcher }}
PIDFILE={{ layout.pidfile }}
RUNDIR={{ layout.rundir }}
USER={{ spec.user }}
{% if spec.runtime == "twisted" %}
LOGFILE={{ layout.logfile }}
TWISTD_OPTS=""

[ -x "$DAEMON" ] || exit 0
[ -r {{ layout.default_file }} ] && . {{ layout.default_file }}
{% else %}
TAPD_OPTS=""

[ -x "$DAEMON" ] || exit 0
[ -r {{ layout.default_file }} ] && . {{ layout.default_file }}
# tapd reads TAPD_TLS from its environment, as under the systemd unit
if [ -n "${TAPD_TLS:-}" ]; then export TAPD_TLS; fi
{% endif %}

. /lib/lsb/init-functions

do_start() {
	install -d -o "$USER" -g "$USER" -m 0755 "$RUNDIR"
	install -d -o "$USER" -g "$USER" -m 0750 {{ layout.logdir }} {{ layout.statedir }}
{% if spec.runtime == "twisted" %}
	# Twisted opens its log before it drops privileges: the log file must be the user's already.
	[ -e "$LOGFILE" ] || install -o "$USER" -g "$USER" -m 0640 /dev/null "$LOGFILE"
	# Started as root: Twisted binds the app's ports, then switches to $USER (--uid/--gid). The
	# launcher daemonizes and exits only once the app has started, non-zero when it failed.
	# shellcheck disable=SC2086
	start-stop-daemon --start --quiet --oknodo --pidfile "$PIDFILE" --chdir {{ layout.statedir }} \
		--exec /usr/bin/python3 -- "$DAEMON" {{ twisted_daemon }} $TWISTD_OPTS
}

do_stop() {
	start-stop-daemon --stop --quiet --oknodo --retry=TERM/30/KILL/5 --pidfile "$PIDFILE" \
		--remove-pidfile --exec /usr/bin/python3
}
{% else %}
	# shellcheck disable=SC2086
	start-stop-daemon --start --quiet --pidfile "$PIDFILE" --chuid "$USER:$USER" \
		--chdir {{ layout.statedir }} --exec /usr/bin/python3 --startas "$DAEMON" -- \
		{{ tapd_daemon }} $TAPD_OPTS
}

do_stop() {
	start-stop-daemon --stop --quiet --retry=TERM/30/KILL/5 --pidfile "$PIDFILE" --remove-pidfile \
		--exec /usr/bin/python3
}
{% endif %}

{# A Twisted app's start reports its failure: the script exits with it. #}
{% set or_exit = " || exit $?" if spec.runtime == "twisted" else "" %}
case "$1" in
start)
	log_daemon_msg "Starting $DESC" "$NAME"
	do_start
	log_end_msg $?{{ or_exit }}
	;;
stop)
	log_daemon_msg "Stopping $DESC" "$NAME"
	do_stop
	log_end_msg $?{{ or_exit }}
	;;
restart|force-reload)
	log_daemon_msg "Restarting $DESC" "$NAME"
	do_stop || true
	do_start
	log_end_msg $?{{ or_exit }}
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
