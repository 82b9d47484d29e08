## scripts/local.mk - set-up script, systemd unit, Samba share, example config, man page.
dist_man_MANS += %D%/gostream.1
exampledir = $(docdir)/examples
dist_example_DATA = %D%/config.json.example %D%/smb.conf.example
systemdunitdir = $(prefix)/lib/systemd/system
dist_systemdunit_DATA = %D%/gostream.service
EXTRA_DIST += %D%/setup.sh
