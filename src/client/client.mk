# src/client/client.mk: the C client library and lockctl (libpq).
#
# Included by the top-level Makefile after PGXS, so PGXS's directories
# (bindir, includedir, libdir from pg_config) and targets exist here.  Adds:
#
#   all        src/client/liblockservice_client.a, src/client/lockctl
#   install    $(bindir)/lockctl                       (pg_config --bindir)
#              $(includedir)/lockservice_client.h      (pg_config --includedir)
#              $(libdir)/liblockservice_client.a       (pg_config --libdir)
#              $(LOCKCTL_LINKDIR)/lockctl -> $(bindir)/lockctl
#                (default /usr/local/bin, so lockctl is on PATH;
#                 make install LOCKCTL_LINKDIR= skips the link)
#   uninstall  removes them
#   clean      removes the build output
#
# A C program uses the library with
#   cc prog.c -I$(pg_config --includedir) -L$(pg_config --libdir) \
#      -llockservice_client -lpq

LSC_DIR := src/client
LSC_SRCDIR := $(srcdir)/src/client
LSC_VERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/lockservice.control)

LSC_LIB := $(LSC_DIR)/liblockservice_client.a
LSC_LIB_OBJS := $(LSC_DIR)/lockservice_client.o
LSC_CTL := $(LSC_DIR)/lockctl
LSC_CTL_OBJS := $(LSC_DIR)/lockctl.o $(LSC_DIR)/lockctl_run.o $(LSC_DIR)/lockctl_watch.o

LSC_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror
LSC_CPPFLAGS := -D_GNU_SOURCE -I$(LSC_SRCDIR) -I$(includedir) -DLOCKCTL_VERSION='"$(LSC_VERSION)"'
LSC_LDLIBS := -L$(libdir) -lpq

LOCKCTL_LINKDIR ?= /usr/local/bin

.PHONY: lockservice-client install-client uninstall-client clean-client

all: lockservice-client
install: install-client
uninstall: uninstall-client
clean: clean-client

lockservice-client: $(LSC_LIB) $(LSC_CTL)

$(LSC_DIR)/%.o: $(LSC_SRCDIR)/%.c $(LSC_SRCDIR)/lockservice_client.h $(LSC_SRCDIR)/lockctl.h $(srcdir)/lockservice.control
	@mkdir -p $(LSC_DIR)
	$(CC) $(LSC_CFLAGS) $(LSC_CPPFLAGS) -c -o $@ $<

$(LSC_LIB): $(LSC_LIB_OBJS)
	rm -f $@
	$(AR) crs $@ $^

$(LSC_CTL): $(LSC_CTL_OBJS) $(LSC_LIB)
	$(CC) $(LSC_CFLAGS) -o $@ $(LSC_CTL_OBJS) $(LSC_LIB) $(LSC_LDLIBS)

install-client: lockservice-client
	$(MKDIR_P) '$(DESTDIR)$(bindir)' '$(DESTDIR)$(includedir)' '$(DESTDIR)$(libdir)'
	$(INSTALL_PROGRAM) $(LSC_CTL) '$(DESTDIR)$(bindir)/lockctl'
	$(INSTALL_DATA) $(LSC_SRCDIR)/lockservice_client.h '$(DESTDIR)$(includedir)/lockservice_client.h'
	$(INSTALL_DATA) $(LSC_LIB) '$(DESTDIR)$(libdir)/liblockservice_client.a'
ifneq ($(strip $(LOCKCTL_LINKDIR)),)
	$(MKDIR_P) '$(DESTDIR)$(LOCKCTL_LINKDIR)'
	ln -sf '$(bindir)/lockctl' '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl'
endif

uninstall-client:
	rm -f '$(DESTDIR)$(bindir)/lockctl' \
		'$(DESTDIR)$(includedir)/lockservice_client.h' \
		'$(DESTDIR)$(libdir)/liblockservice_client.a'
ifneq ($(strip $(LOCKCTL_LINKDIR)),)
	if [ -L '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl' ]; then rm -f '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl'; fi
endif

clean-client:
	rm -f $(LSC_LIB) $(LSC_LIB_OBJS) $(LSC_CTL) $(LSC_CTL_OBJS)
