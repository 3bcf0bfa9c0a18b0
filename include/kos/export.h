// Symbol visibility for libkos. The library is built with hidden visibility;
// only declarations marked KOS_EXPORT are part of the ABI.
#ifndef KOS_EXPORT_H_
#define KOS_EXPORT_H_

#if defined(_WIN32)
#if defined(KOS_BUILDING_LIBRARY)
#define KOS_EXPORT __declspec(dllexport)
#else
#define KOS_EXPORT __declspec(dllimport)
#endif
#else
#define KOS_EXPORT __attribute__((visibility("default")))
#endif

#endif  // KOS_EXPORT_H_
