// Same as bin/meatbackup.js: the SDK's Node.js 20 end-of-support notice is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
