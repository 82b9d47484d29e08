## web/local.mk - the control panel and health dashboard (pages, script, styles),
## compiled into the binary: web/embed.sh turns them into web/assets.c at build time
## (od + sed; nothing is downloaded, no runtime files). Served by server/web.c.
GS_WEB_ASSETS = %D%/dashboard.html %D%/control.html %D%/app.js %D%/app.css
EXTRA_DIST += $(GS_WEB_ASSETS) %D%/embed.sh
nodist_server_libgs_server_a_SOURCES = %D%/assets.c
CLEANFILES += %D%/assets.c
%D%/assets.c: $(GS_WEB_ASSETS) %D%/embed.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/%D%/embed.sh $(srcdir) $(GS_WEB_ASSETS) > $@.tmp && mv $@.tmp $@
