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
NAME="{{ spec.name }}"
DESC={{ spec.summary | shell_quote }}
DAEMON={{ layout.launcher }}
PIDFILE={{ layout.pidfile }}
RUNDIR={{ layout.rundir }}
USER="{{ spec.user }}"
{% if spec.runtime == "twisted" %}
LOGFILE={{ layout.logfile }}
TWISTD_OPTS=""

[ -x "$DAEMON" ] || exit 0
# shellcheck source=/dev/null
[ -r {{ layout.default_file }} ] && . {{ layout.default_file }}
{% else %}
{% if spec.ports and spec.ports | min < 1024 %}
LOGFILE={{ layout.logfile }}
{% endif %}
TAPD_OPTS=""

[ -x "$DAEMON" ] || exit 0
# shellcheck source=/dev/null
[ -r {{ layout.default_file }} ] && . {{ layout.default_file }}
# tapd reads TAPD_TLS from its environment, as under the systemd unit
if [ -n "${TAPD_TLS:-}" ]; then export TAPD_TLS; fi
{% endif %}

# shellcheck source=/dev/null
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
{% if spec.ports and spec.ports | min < 1024 %}
	# A port below 1024: started as root, tapd binds the app's ports, then switches to $USER
	# (--uid/--gid). Its log is opened before that, so it must be the user's already.
	[ -e "$LOGFILE" ] || install -o "$USER" -g "$USER" -m 0640 /dev/null "$LOGFILE"
	# shellcheck disable=SC2086
	start-stop-daemon --start --quiet --oknodo --pidfile "$PIDFILE" \
		--chdir {{ layout.statedir }} --exec /usr/bin/python3 --startas "$DAEMON" -- \
		{{ tapd_daemon }} --uid "$USER" --gid "$USER" $TAPD_OPTS
{% else %}
	# tapd daemonizes and exits only once the app has started, non-zero when it failed.
	# shellcheck disable=SC2086
	start-stop-daemon --start --quiet --oknodo --pidfile "$PIDFILE" --chuid "$USER:$USER" \
		--chdir {{ layout.statedir }} --exec /usr/bin/python3 --startas "$DAEMON" -- \
		{{ tapd_daemon }} $TAPD_OPTS
{% endif %}
}

do_stop() {
	start-stop-daemon --stop --quiet --oknodo --retry=TERM/30/KILL/5 --pidfile "$PIDFILE" \
		--remove-pidfile --exec /usr/bin/python3
}
{% endif %}

{# The launcher's start reports the app's failure: the script exits with it, so invoke-rc.d sees it. #}
{% set or_exit = " || exit $?" %}
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
