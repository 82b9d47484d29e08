/* demo.h - `gostream demo`: the main job with zero configuration, in a private temp
 * state folder that is removed on exit. Main thread only. */
#ifndef GS_DEMO_H
#define GS_DEMO_H

int demo_main(int argc, char **argv);

#endif
