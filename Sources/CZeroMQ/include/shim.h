#ifndef SCOPEPILOT_CZEROMQ_SHIM_H
#define SCOPEPILOT_CZEROMQ_SHIM_H
// libzmq from Debian's libzmq3-dev. zmq.h lives in /usr/include, so no pkg-config
// (libzmq's .pc file adds an -isystem flag that SwiftPM refuses).
#include <zmq.h>
// eventfd wakes a socket thread that is waiting in zmq_poll.
#include <sys/eventfd.h>
#include <unistd.h>
#endif
